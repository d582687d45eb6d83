import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

const Multiaddr = Type.String({ minLength: 1, maxLength: 512, pattern: '^/' });

/** `config.json` in a node's home directory. Every field has a default, so `{}` is a valid file. */
export const NodeConfigSchema = Type.Object(
  {
    moniker: Type.String({ minLength: 1, maxLength: 64, default: 'self-node' }),
    p2p: Type.Object(
      {
        listen: Type.Array(Multiaddr, { maxItems: 16, default: ['/ip4/127.0.0.1/tcp/26656'] }),
        announce: Type.Array(Multiaddr, { maxItems: 16, default: [] }),
        bootstrap: Type.Array(Multiaddr, { maxItems: 256, default: [] }),
        max_connections: Type.Integer({ minimum: 1, maximum: 4096, default: 64 }),
      },
      { additionalProperties: false, default: {} },
    ),
    api: Type.Object(
      {
        host: Type.String({ minLength: 1, maxLength: 255, default: '127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 26657 }),
        /** Requests per window per client address; transaction submission has its own, stricter share. */
        rate_limit: Type.Object(
          {
            max: Type.Integer({ minimum: 1, default: 600 }),
            window_ms: Type.Integer({ minimum: 100, default: 60_000 }),
            allow: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64, default: [] }),
          },
          { additionalProperties: false, default: {} },
        ),
        cors: Type.Boolean({ default: true }),
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * With an empty mempool, wait this long after a commit before the next height (a transaction
     * or a peer's proposal ends the wait early). 0: never wait (blocks at the profile's pace).
     */
    empty_block_wait_ms: Type.Integer({ minimum: 0, maximum: 600_000, default: 1_000 }),
    /** Signature verification threads; 0 means one per core. */
    verify_threads: Type.Integer({ minimum: 0, maximum: 256, default: 0 }),
    log_level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info' },
    ),
  },
  { additionalProperties: false },
);

export type NodeConfig = Static<typeof NodeConfigSchema>;

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly details: string[] = [],
  ) {
    super(details.length ? `${message}: ${details.join('; ')}` : message);
    this.name = 'ConfigError';
  }
}

/** Fills defaults and validates; throws ConfigError listing every problem with its JSON path. */
export function parseNodeConfig(raw: unknown): NodeConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError('config must be a JSON object');
  const withDefaults = Value.Default(NodeConfigSchema, structuredClone(raw));
  const errors = [...Value.Errors(NodeConfigSchema, withDefaults)].map(
    (e) => `${e.path || '/'} ${e.message}`,
  );
  if (errors.length) throw new ConfigError('invalid node config', errors.slice(0, 10));
  return withDefaults as NodeConfig;
}
