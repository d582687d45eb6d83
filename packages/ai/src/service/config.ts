import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { parseCatalogue, type Catalogue } from '../catalogue.js';

/**
 * The one JSON line `self-ai serve` reads on stdin. The key travels only this way: never in argv
 * (visible to every user in ps) nor in the environment (inherited, dumped in crash reports).
 */
export const ServeConfigSchema = Type.Object(
  {
    catalogue: Type.Unknown(),
    cacheDir: Type.String({ minLength: 1 }),
    allowTestModels: Type.Optional(Type.Boolean()),
    key: Type.Optional(Type.String({ minLength: 16 })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    host: Type.Optional(Type.String({ minLength: 1 })),
    logLevel: Type.Optional(
      Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
    ),
    gpu: Type.Optional(
      Type.Union([
        Type.Literal('auto'),
        Type.Literal(false),
        Type.Literal('cuda'),
        Type.Literal('vulkan'),
        Type.Literal('metal'),
      ]),
    ),
    threads: Type.Optional(Type.Integer({ minimum: 0 })),
    maxConcurrent: Type.Optional(Type.Integer({ minimum: 1 })),
    queueLimit: Type.Optional(Type.Integer({ minimum: 0 })),
    download: Type.Optional(Type.Boolean()),
    preload: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

type RawServeConfig = Static<typeof ServeConfigSchema>;
export type ServeConfig = Omit<RawServeConfig, 'catalogue' | 'logLevel'> & {
  catalogue: Catalogue;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
};

const check = TypeCompiler.Compile(ServeConfigSchema);

/** Validates the config line; throws an Error naming the first bad field. */
export function parseServeConfig(value: unknown): ServeConfig {
  if (!check.Check(value)) {
    const e = check.Errors(value).First();
    throw new Error(`serve config: ${e?.path || '/'}: ${e?.message ?? 'is invalid'}`);
  }
  return { ...(value as ServeConfig), catalogue: parseCatalogue(value.catalogue) };
}
