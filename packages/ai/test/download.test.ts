import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DownloadError,
  InferenceClient,
  TEST_MODEL_REPLY,
  catalogueForModel,
  downloadModel,
  modelUrl,
  resolveModelFile,
  startInferenceService,
} from '../src/index.js';
import { testModelPath } from '../src/testing.js';

let model: Buffer;
let sha: string;
let dir: string;
let cacheDir: string;

interface Seen {
  url: string;
  range: string | undefined;
  authorization: string | undefined;
}

/** A file server on 127.0.0.1 serving the test model; `mode` decides how it misbehaves. */
let mode: 'range' | 'no-range' | 'drop-once' | 'drop-once-no-range' | 'drop-always' = 'range';
let seen: Seen[] = [];
let dropped = 0;
let base = '';
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  seen.push({ url: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization });
  if (req.url === '/hf/owner/repo/resolve/main/dir/model.gguf') {
    res.writeHead(302, { location: `${base}/files/model.gguf` });
    return res.end();
  }
  if (req.url !== '/files/model.gguf') {
    res.writeHead(404);
    return res.end('not here');
  }
  const ranged = !mode.includes('no-range') && /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = ranged ? Number(ranged[1]) : 0;
  const body = model.subarray(start);
  res.writeHead(ranged ? 206 : 200, {
    'content-length': String(body.length),
    'content-type': 'application/octet-stream',
    ...(ranged ? { 'content-range': `bytes ${start}-${model.length - 1}/${model.length}` } : {}),
  });
  const drop = mode === 'drop-always' || (mode.startsWith('drop-once') && dropped === 0);
  if (drop) {
    dropped++;
    // Half of what is left, then the connection breaks.
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
    return;
  }
  res.end(body);
});
const sockets = new Set<Socket>();
server.on('connection', (s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});

beforeAll(async () => {
  model = await readFile(await testModelPath());
  sha = createHash('sha256').update(model).digest('hex');
  dir = await mkdtemp(join(tmpdir(), 'self-ai-download-'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  mode = 'range';
  seen = [];
  dropped = 0;
  cacheDir = await mkdtemp(join(dir, 'cache-'));
});

const url = () => `${base}/files/model.gguf`;
/** Buffer.equals: vitest's deep equality walks a megabyte byte by byte. */
const isModel = async (path: string) => (await readFile(path)).equals(model);

describe('resolveModelFile and modelUrl', () => {
  it('maps sources to paths without downloading', () => {
    expect(resolveModelFile('/models/a.gguf', '/cache')).toBe('/models/a.gguf');
    expect(resolveModelFile('models/a.gguf', '/cache')).toBe(resolve('models/a.gguf'));
    expect(resolveModelFile('hf:owner/repo/sub/file.gguf', '/cache')).toBe(
      '/cache/hf/owner/repo/sub/file.gguf',
    );
    const u = resolveModelFile('https://example.com/x/model.gguf?download=1', '/cache');
    expect(u.startsWith('/cache/url/example.com/')).toBe(true);
    expect(u.endsWith('-model.gguf')).toBe(true);
    expect(() => resolveModelFile('hf:owner/../etc/passwd', '/cache')).toThrow(DownloadError);
    expect(() => resolveModelFile('hf:owner/repo', '/cache')).toThrow(/hf:owner\/repo\/path/);
  });

  it('builds Hugging Face URLs from the endpoint', () => {
    expect(modelUrl('hf:o/r/f.gguf')).toBe('https://huggingface.co/o/r/resolve/main/f.gguf');
    expect(modelUrl('hf:o/r/d/f 1.gguf', 'http://mirror.local/')).toBe(
      'http://mirror.local/o/r/resolve/main/d/f%201.gguf',
    );
    expect(modelUrl('https://x/y.gguf')).toBe('https://x/y.gguf');
  });
});

describe('downloadModel', () => {
  it('downloads, checks the SHA-256, renames into place, reports progress', async () => {
    const progress: Array<[number, number | null]> = [];
    const path = await downloadModel(url(), {
      cacheDir,
      sha256: sha,
      onProgress: (d, t) => progress.push([d, t]),
    });
    expect(path).toBe(resolveModelFile(url(), cacheDir));
    expect(
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex'),
    ).toBe(sha);
    expect(existsSync(`${path}.partial`)).toBe(false);
    expect(progress.at(-1)).toEqual([model.length, model.length]);
    expect(progress.every(([, t]) => t === model.length)).toBe(true);

    // Already there and matching: not fetched again.
    seen = [];
    expect(await downloadModel(url(), { cacheDir, sha256: sha })).toBe(path);
    expect(await downloadModel(url(), { cacheDir })).toBe(path);
    expect(seen).toEqual([]);
  });

  it('resumes with a Range request after the connection drops', async () => {
    mode = 'drop-once';
    const path = await downloadModel(url(), { cacheDir, sha256: sha });
    expect(await isModel(path)).toBe(true);
    expect(seen).toHaveLength(2);
    expect(seen[0]?.range).toBeUndefined();
    expect(seen[1]?.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(seen[1]?.range ?? '')?.[0])).toBeGreaterThan(0);
  });

  it('resumes in a later call when this one gives up', async () => {
    mode = 'drop-once';
    const err = await downloadModel(url(), { cacheDir, retries: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err).toMatchObject({ code: 'interrupted' });
    const partial = `${resolveModelFile(url(), cacheDir)}.partial`;
    expect(existsSync(partial)).toBe(true);
    const path = await downloadModel(url(), { cacheDir, sha256: sha });
    expect(await isModel(path)).toBe(true);
    expect(seen.at(-1)?.range).toMatch(/^bytes=\d+-$/);
  });

  it('restarts cleanly when the server ignores Range', async () => {
    mode = 'drop-once-no-range';
    const path = await downloadModel(url(), { cacheDir, sha256: sha });
    expect(await isModel(path)).toBe(true);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.range).toMatch(/^bytes=/); // asked, got the whole file, wrote it from the start
  });

  it('gives up after its retries when the server keeps dropping', async () => {
    mode = 'drop-always';
    await expect(downloadModel(url(), { cacheDir, retries: 2 })).rejects.toMatchObject({
      code: 'interrupted',
    });
    expect(seen).toHaveLength(3);
  });

  it('deletes a download whose SHA-256 does not match', async () => {
    const wrong = 'ab'.repeat(32);
    const err = await downloadModel(url(), { cacheDir, sha256: wrong }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'checksum_mismatch' });
    expect((err as Error).message).toContain(sha);
    const path = resolveModelFile(url(), cacheDir);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.partial`)).toBe(false);
  });

  it('replaces a cached file that does not match its SHA-256', async () => {
    const path = resolveModelFile(url(), cacheDir);
    await downloadModel(url(), { cacheDir });
    await writeFile(path, 'corrupted');
    expect(await isModel(await downloadModel(url(), { cacheDir, sha256: sha }))).toBe(true);
  });

  it('follows hf: URIs through the endpoint and its redirect, with the token only for Hugging Face', async () => {
    const path = await downloadModel('hf:owner/repo/dir/model.gguf', {
      cacheDir,
      hfEndpoint: `${base}/hf`,
      hfToken: 'hf_secret',
    });
    expect(path).toBe(join(cacheDir, 'hf', 'owner', 'repo', 'dir', 'model.gguf'));
    expect(await isModel(path)).toBe(true);
    expect(seen.map((s) => s.url)).toEqual([
      '/hf/owner/repo/resolve/main/dir/model.gguf',
      '/files/model.gguf',
    ]);
    expect(seen[0]?.authorization).toBe('Bearer hf_secret');
    seen = [];
    await downloadModel(url(), { cacheDir: await mkdtemp(join(dir, 'c-')), hfToken: 'hf_secret' });
    expect(seen[0]?.authorization).toBeUndefined();
  });

  it('says plainly when the file is not there, or a local path is missing', async () => {
    await expect(downloadModel(`${base}/files/missing.gguf`, { cacheDir })).rejects.toMatchObject({
      code: 'not_found',
    });
    await expect(downloadModel('/nonexistent/model.gguf', { cacheDir })).rejects.toMatchObject({
      code: 'not_found',
    });
    const local = await testModelPath();
    expect(await downloadModel(local, { cacheDir })).toBe(local);
  });

  it('stops when aborted, keeping the partial file for later', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(downloadModel(url(), { cacheDir, signal: controller.signal })).rejects.toThrow();
    const path = await downloadModel(url(), { cacheDir });
    expect(await isModel(path)).toBe(true);
  });
});

describe('the service with download: true', () => {
  it('downloads a missing model on first use, then serves it', async () => {
    const svc = await startInferenceService({
      catalogue: catalogueForModel(url(), { id: 'pulled', sha256: sha, contextSize: 512 }),
      cacheDir,
      download: true,
      allowTestModels: true,
      gpu: false,
      threads: 1,
    });
    try {
      const client = new InferenceClient({ url: svc.url, key: svc.key });
      const res = await client.chat({ model: 'pulled', messages: [{ role: 'user', content: 'hi' }] });
      expect(res.choices[0].message.content).toBe(TEST_MODEL_REPLY);
      expect(seen.map((s) => s.url)).toEqual(['/files/model.gguf']);
      expect(await isModel(resolveModelFile(url(), cacheDir))).toBe(true);
    } finally {
      await svc.close();
    }
  });
});
