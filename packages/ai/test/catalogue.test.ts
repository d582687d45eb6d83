import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CatalogueError,
  TIERS,
  catalogueForModel,
  defaultCatalogue,
  loadCatalogueFile,
  modelIdFromSource,
  parseCatalogue,
  resolveApiKey,
  tierModels,
  type Catalogue,
} from '../src/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'self-ai-catalogue-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const valid = (): Catalogue => ({
  models: [
    { id: 'small', runtime: 'embedded', source: 'hf:o/r/small.gguf', sha256: 'a'.repeat(64) },
    {
      id: 'big',
      runtime: 'upstream',
      baseUrl: 'http://127.0.0.1:11434/v1',
      apiKey: 'env:KEY',
      contextSize: 8192,
    },
  ],
  tiers: { free: ['small'], growth: ['small'], pro: ['big', 'small'], enterprise: ['big'] },
  embeddingModel: null,
});

function errorOf(value: unknown): string {
  try {
    parseCatalogue(value);
  } catch (err) {
    expect(err).toBeInstanceOf(CatalogueError);
    return (err as Error).message;
  }
  throw new Error('expected the catalogue to be refused');
}

describe('the model catalogue', () => {
  it('accepts a valid catalogue; the first id of a tier is its default', () => {
    const c = parseCatalogue(valid());
    expect(tierModels(c, 'pro')).toEqual(['big', 'small']);
    expect(tierModels(c, 'free')[0]).toBe('small');
  });

  it('names the bad field', () => {
    const bad = (mutate: (c: Record<string, unknown> & Catalogue) => void): string => {
      const c = valid() as Record<string, unknown> & Catalogue;
      mutate(c);
      return errorOf(c);
    };
    expect(bad((c) => ((c.models[0] as { source?: unknown }).source = 7))).toMatch(/\/models\/0\/source/);
    expect(bad((c) => ((c.models[1] as { contextSize?: unknown }).contextSize = undefined))).toMatch(
      /\/models\/1\/contextSize/,
    );
    expect(bad((c) => ((c.models[1] as { baseUrl: string }).baseUrl = 'ftp://x'))).toMatch(
      /\/models\/1\/baseUrl/,
    );
    expect(bad((c) => ((c.models[0] as { runtime: string }).runtime = 'gpu-farm'))).toMatch(
      /\/models\/0\/runtime: must be "embedded" or "upstream"/,
    );
    expect(bad((c) => ((c.models[0] as { sha256?: string }).sha256 = 'xyz'))).toMatch(/\/models\/0\/sha256/);
    expect(bad((c) => ((c.models[0] as Record<string, unknown>).colour = 'red'))).toMatch(
      /\/models\/0\/colour/,
    );
    expect(bad((c) => (c.tiers.pro = ['big', 'huge']))).toMatch(
      /\/tiers\/pro\/1: no model has the id "huge"/,
    );
    expect(bad((c) => delete (c.tiers as Partial<Catalogue['tiers']>).enterprise)).toMatch(
      /\/tiers\/enterprise/,
    );
    expect(bad((c) => (c.embeddingModel = 'nope'))).toMatch(/\/embeddingModel: no model has the id "nope"/);
    expect(bad((c) => c.models.push({ ...c.models[0]! }))).toMatch(/\/models\/2\/id: "small" appears twice/);
    expect(bad((c) => (c.models = []))).toMatch(/\/models/);
    expect(errorOf('nope')).toMatch(/model catalogue: \//);
  });

  it('reads a file, naming the file in errors', async () => {
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify(valid()));
    expect((await loadCatalogueFile(good)).models).toHaveLength(2);
    const notJson = join(dir, 'bad.json');
    await writeFile(notJson, '{ models: ');
    await expect(loadCatalogueFile(notJson)).rejects.toThrow(/bad\.json is not JSON/);
    const wrong = join(dir, 'wrong.json');
    await writeFile(wrong, JSON.stringify({ ...valid(), embeddingModel: 3 }));
    await expect(loadCatalogueFile(wrong)).rejects.toThrow(/wrong\.json: model catalogue: \/embeddingModel/);
    await expect(loadCatalogueFile(join(dir, 'missing.json'))).rejects.toThrow(/cannot be read/);
  });

  it('has a default catalogue of real model URIs, small to large by tier', () => {
    const c = parseCatalogue(defaultCatalogue());
    for (const tier of TIERS) expect(tierModels(c, tier).length).toBeGreaterThan(0);
    expect(tierModels(c, 'free')).toEqual(['llama-3.2-1b-instruct']);
    expect(tierModels(c, 'growth')[0]).toBe('qwen2.5-3b-instruct');
    expect(tierModels(c, 'pro')[0]).toBe('llama-3.1-8b-instruct');
    for (const m of c.models) {
      expect(m.runtime).toBe('embedded');
      if (m.runtime === 'embedded') expect(m.source).toMatch(/^hf:[^/]+\/[^/]+\/.+Q4_K_M\.gguf$/i);
    }
  });

  it('serves one model on every tier for `self up --model`', () => {
    const c = catalogueForModel('/models/Llama-3.2-1B-Instruct-Q4_K_M.gguf');
    expect(c.models).toEqual([
      {
        id: 'llama-3.2-1b-instruct-q4_k_m',
        runtime: 'embedded',
        source: '/models/Llama-3.2-1B-Instruct-Q4_K_M.gguf',
      },
    ]);
    for (const tier of TIERS) expect(tierModels(c, tier)).toEqual(['llama-3.2-1b-instruct-q4_k_m']);
    expect(c.embeddingModel).toBeNull();
    const withEmbeddings = catalogueForModel('hf:o/r/x.gguf', {
      id: 'x',
      embeddings: true,
      contextSize: 4096,
    });
    expect(withEmbeddings.embeddingModel).toBe('x');
    expect(modelIdFromSource('https://h/p/My Model.GGUF?x=1')).toBe('my-model');
  });

  it('reads env: keys from the environment at use', () => {
    expect(resolveApiKey(undefined)).toBeUndefined();
    expect(resolveApiKey('sk-plain')).toBe('sk-plain');
    expect(resolveApiKey('env:UPSTREAM_KEY', { UPSTREAM_KEY: 'sk-env' })).toBe('sk-env');
    expect(() => resolveApiKey('env:UPSTREAM_KEY', {})).toThrow(/UPSTREAM_KEY is not set/);
  });
});
