import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/**
 * The model catalogue: which models the inference service offers, how each runs, and which of them
 * each tier may use (the first id of a tier is its default). The operator writes it as JSON; it is
 * validated field by field so that a mistake is reported by where it is, not as "invalid union".
 */

export const TIERS = ['free', 'growth', 'pro', 'enterprise'] as const;
export type Tier = (typeof TIERS)[number];

const ModelId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$' });

export const EmbeddedModelSchema = Type.Object(
  {
    id: ModelId,
    runtime: Type.Literal('embedded'),
    /** A local path, an https/http URL, or `hf:owner/repo/path/file.gguf`. */
    source: Type.String({ minLength: 1 }),
    sha256: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$' })),
    contextSize: Type.Optional(Type.Integer({ minimum: 64 })),
    embeddings: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const UpstreamModelSchema = Type.Object(
  {
    id: ModelId,
    runtime: Type.Literal('upstream'),
    baseUrl: Type.String({ pattern: '^https?://' }),
    /** The upstream's bearer key, or `env:NAME` to read it from the environment. */
    apiKey: Type.Optional(Type.String({ minLength: 1 })),
    /** The model name the upstream knows it by (default: id). */
    upstreamModel: Type.Optional(Type.String({ minLength: 1 })),
    contextSize: Type.Integer({ minimum: 64 }),
    /** Longest wait for the first byte, and between bytes of a stream (default 60 000 ms). */
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
    embeddings: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const TierIds = Type.Array(ModelId);
const CatalogueShape = Type.Object(
  {
    models: Type.Array(Type.Object({ id: Type.Unknown(), runtime: Type.Unknown() }), { minItems: 1 }),
    tiers: Type.Object(
      { free: TierIds, growth: TierIds, pro: TierIds, enterprise: TierIds },
      { additionalProperties: false },
    ),
    embeddingModel: Type.Union([ModelId, Type.Null()]),
  },
  { additionalProperties: false },
);

export type EmbeddedModel = Static<typeof EmbeddedModelSchema>;
export type UpstreamModel = Static<typeof UpstreamModelSchema>;
export type CatalogueModel = EmbeddedModel | UpstreamModel;
export interface Catalogue {
  models: CatalogueModel[];
  tiers: Record<Tier, string[]>;
  embeddingModel: string | null;
}

export class CatalogueError extends Error {
  override readonly name = 'CatalogueError';
}

const shapeCheck = TypeCompiler.Compile(CatalogueShape);
const embeddedCheck = TypeCompiler.Compile(EmbeddedModelSchema);
const upstreamCheck = TypeCompiler.Compile(UpstreamModelSchema);

function firstError(
  check: ReturnType<typeof TypeCompiler.Compile<TSchema>>,
  value: unknown,
  at: string,
): never {
  const e = check.Errors(value).First();
  const path = `${at}${e?.path ?? ''}` || '/';
  throw new CatalogueError(`model catalogue: ${path}: ${e?.message ?? 'is invalid'}`);
}

/** Validates a parsed catalogue; throws CatalogueError naming the first bad field. */
export function parseCatalogue(value: unknown): Catalogue {
  if (!shapeCheck.Check(value)) firstError(shapeCheck, value, '');
  const models: CatalogueModel[] = value.models.map((m, i) => {
    const at = `/models/${i}`;
    if (m.runtime === 'embedded') {
      if (!embeddedCheck.Check(m)) firstError(embeddedCheck, m, at);
      return m;
    }
    if (m.runtime === 'upstream') {
      if (!upstreamCheck.Check(m)) firstError(upstreamCheck, m, at);
      return m;
    }
    throw new CatalogueError(`model catalogue: ${at}/runtime: must be "embedded" or "upstream"`);
  });
  const ids = new Set<string>();
  for (const [i, m] of models.entries()) {
    if (ids.has(m.id)) throw new CatalogueError(`model catalogue: /models/${i}/id: "${m.id}" appears twice`);
    ids.add(m.id);
  }
  for (const tier of TIERS) {
    for (const [i, id] of value.tiers[tier].entries()) {
      if (!ids.has(id))
        throw new CatalogueError(`model catalogue: /tiers/${tier}/${i}: no model has the id "${id}"`);
    }
  }
  if (value.embeddingModel !== null) {
    const m = models.find((x) => x.id === value.embeddingModel);
    if (!m)
      throw new CatalogueError(
        `model catalogue: /embeddingModel: no model has the id "${value.embeddingModel}"`,
      );
    if (m.embeddings === false)
      throw new CatalogueError(
        `model catalogue: /embeddingModel: "${m.id}" is configured with embeddings: false`,
      );
  }
  return { models, tiers: value.tiers, embeddingModel: value.embeddingModel };
}

/** Reads and validates a catalogue file. */
export async function loadCatalogueFile(path: string): Promise<Catalogue> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CatalogueError(`model catalogue ${path} cannot be read: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CatalogueError(`model catalogue ${path} is not JSON: ${(err as Error).message}`);
  }
  try {
    return parseCatalogue(value);
  } catch (err) {
    if (err instanceof CatalogueError) throw new CatalogueError(`${path}: ${err.message}`);
    throw err;
  }
}

/** The models a tier may use, its default first. */
export function tierModels(catalogue: Catalogue, tier: Tier): string[] {
  return [...catalogue.tiers[tier]];
}

export function findModel(catalogue: Catalogue, id: string): CatalogueModel | undefined {
  return catalogue.models.find((m) => m.id === id);
}

/**
 * The default models, by tier: small instruct models in Q4_K_M, which run on a CPU. They are
 * downloaded by `self ai pull <uri>` (or on first use when the service is told to download).
 */
export const DEFAULT_MODELS = {
  small: {
    id: 'llama-3.2-1b-instruct',
    source: 'hf:bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf',
  },
  medium: {
    id: 'qwen2.5-3b-instruct',
    source: 'hf:Qwen/Qwen2.5-3B-Instruct-GGUF/qwen2.5-3b-instruct-q4_k_m.gguf',
  },
  large: {
    id: 'llama-3.1-8b-instruct',
    source: 'hf:bartowski/Meta-Llama-3.1-8B-Instruct-GGUF/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf',
  },
} as const;

/** Free: the ~1B model; Growth: ~3B; Pro and Enterprise: ~8B, each with the smaller ones too. */
export function defaultCatalogue(): Catalogue {
  const { small, medium, large } = DEFAULT_MODELS;
  return {
    models: [small, medium, large].map((m) => ({ id: m.id, runtime: 'embedded' as const, source: m.source })),
    tiers: {
      free: [small.id],
      growth: [medium.id, small.id],
      pro: [large.id, medium.id, small.id],
      enterprise: [large.id, medium.id, small.id],
    },
    embeddingModel: null,
  };
}

/** A model id from a file name or URI: `…/Llama-3.2-1B-Instruct-Q4_K_M.gguf` → `llama-3.2-1b-instruct-q4_k_m`. */
export function modelIdFromSource(source: string): string {
  const name = basename(source.replace(/[?#].*$/, '')).replace(/\.gguf$/i, '');
  const id = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 128);
  return id === '' ? 'model' : id;
}

/** One embedded model serving every tier: what `self up --model <path or uri>` runs. */
export function catalogueForModel(
  source: string,
  opts: { id?: string; contextSize?: number; embeddings?: boolean; sha256?: string } = {},
): Catalogue {
  const id = opts.id ?? modelIdFromSource(source);
  const model: EmbeddedModel = {
    id,
    runtime: 'embedded',
    source,
    ...(opts.sha256 !== undefined ? { sha256: opts.sha256 } : {}),
    ...(opts.contextSize !== undefined ? { contextSize: opts.contextSize } : {}),
    ...(opts.embeddings !== undefined ? { embeddings: opts.embeddings } : {}),
  };
  return parseCatalogue({
    models: [model],
    tiers: { free: [id], growth: [id], pro: [id], enterprise: [id] },
    embeddingModel: opts.embeddings ? id : null,
  });
}

/**
 * An upstream key as configured: `env:NAME` reads the environment at use (so the catalogue file
 * need not hold the secret); anything else is the key itself.
 */
export function resolveApiKey(
  value: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (value === undefined || !value.startsWith('env:')) return value;
  const name = value.slice(4);
  const key = env[name];
  if (key === undefined || key === '')
    throw new CatalogueError(`the upstream key is configured as env:${name}, but ${name} is not set`);
  return key;
}
