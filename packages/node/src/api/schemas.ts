import { Type, type Static, type TSchema } from '@fastify/type-provider-typebox';
import { TX_KINDS } from '@self/chain';

/**
 * JSON shapes of the node API, as TypeBox schemas: Fastify validates requests and serializes
 * responses with them, @fastify/swagger turns them into /openapi.json, and the serializers
 * (serialize.ts) are typed by their Static types, so the three cannot drift apart.
 *
 * Conventions: byte strings are lowercase hex; integers are JSON numbers (the chain keeps every
 * integer below 2^53); addresses are `self1…`; colours are 6 hex digits. Response schemas target
 * OpenAPI 3.0, so nullable values use `nullable: true` and enums use `enum` (not `const`).
 */

// ---- helpers ------------------------------------------------------------------------------------

export function Nullable<T extends TSchema>(schema: T) {
  return Type.Unsafe<Static<T> | null>({ ...schema, nullable: true });
}

export function StringEnum<const V extends readonly string[]>(values: V, description?: string) {
  return Type.Unsafe<V[number]>({
    type: 'string',
    enum: [...values],
    ...(description ? { description } : {}),
  });
}

/** Free-form JSON object (kind-specific bodies, W3C documents): documented, not re-validated. */
export function JsonObject(description: string) {
  return Type.Unsafe<{ [key: string]: unknown }>({ type: 'object', additionalProperties: true, description });
}

const ADDRESS_PATTERN = '^self1[02-9ac-hj-np-z]{38}$';

export const Hash32 = Type.String({ pattern: '^[0-9a-f]{64}$', description: '32 bytes, lowercase hex' });
export const HexBytes = Type.String({ pattern: '^([0-9a-f]{2})*$', description: 'bytes, lowercase hex' });
export const Address = Type.String({ pattern: ADDRESS_PATTERN, description: 'SELF address (self1…)' });
export const Colour = Type.String({ pattern: '^[0-9a-f]{6}$', description: 'colour marker, 6 hex digits' });
const Uint = (description?: string) => Type.Integer({ minimum: 0, ...(description ? { description } : {}) });

// ---- errors -------------------------------------------------------------------------------------

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'stable error code, e.g. invalid_request, not_found' }),
    message: Type.String({ description: 'human-readable explanation' }),
    details: JsonObject('machine-readable context; chain rejections carry the ChainError code in `code`'),
  },
  { additionalProperties: true, description: 'Every error response' },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** Error responses every route may answer (documented once, serialized with the same schema). */
export const ERROR_RESPONSES = { '4xx': ErrorBody, '5xx': ErrorBody } as const;

// ---- request parts ------------------------------------------------------------------------------

/** Routes take no query parameters; declaring none makes unknown ones a 400 instead of ignored. */
export const NoQuery = Type.Object({}, { additionalProperties: false });

export const HeightParams = Type.Object(
  {
    height: Type.String({
      pattern: '^(0|[1-9][0-9]{0,19})$',
      description: 'block height, a decimal integer (blocks start at 1)',
    }),
  },
  { additionalProperties: false },
);
export const HashParams = Type.Object(
  { hash: Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: '32-byte hash, hex' }) },
  { additionalProperties: false },
);
export const AddressParams = Type.Object(
  { address: Type.String({ pattern: ADDRESS_PATTERN, description: 'SELF address (self1…)' }) },
  { additionalProperties: false },
);
export const DidParams = Type.Object(
  {
    did: Type.String({
      pattern: `^did:self:${ADDRESS_PATTERN.slice(1)}`,
      description: 'did:self:<address>',
    }),
  },
  { additionalProperties: false },
);
export const AppParams = Type.Object(
  { id: Type.String({ pattern: '^app_[0-9a-f]{32}$', description: 'app id (app_ + 32 hex digits)' }) },
  { additionalProperties: false },
);

export const SubmitTxJson = Type.Object(
  {
    tx: Type.String({
      pattern: '^([0-9a-fA-F]{2})+$',
      description: 'the encoded SignedTransaction (canonical CBOR), hex',
    }),
  },
  { additionalProperties: false },
);
/** Most transactions one `POST /v1/transactions/batch` may carry. */
export const MAX_BATCH_TXS = 1000;

export const BatchSubmitJson = Type.Object(
  {
    txs: Type.Array(
      Type.String({
        pattern: '^([0-9a-fA-F]{2})+$',
        description: 'an encoded SignedTransaction (canonical CBOR), hex',
      }),
      { minItems: 1, maxItems: MAX_BATCH_TXS, description: `1 to ${MAX_BATCH_TXS} transactions` },
    ),
  },
  { additionalProperties: false },
);

/** Raw request bodies are Buffers; the OpenAPI document shows them as binary (see server.ts). */
export const RawBytesBody = Type.Unsafe<Uint8Array>({
  description: 'the encoded SignedTransaction (canonical CBOR), raw bytes',
});

export const RawBatchBody = Type.Unsafe<Uint8Array>({
  description: `canonical CBOR: an array of 1 to ${MAX_BATCH_TXS} byte strings, each an encoded SignedTransaction`,
});

// ---- blocks and transactions --------------------------------------------------------------------

export const HeaderJson = Type.Object({
  v: Type.Integer(),
  chain_id: Type.String(),
  height: Uint(),
  prev_hash: Hash32,
  timestamp: Uint('milliseconds since the Unix epoch'),
  state_root: Hash32,
  tx_root: Hash32,
  colour_root: Hash32,
  last_commit_hash: Hash32,
  proposer: Address,
  round: Uint(),
  efficiency: Uint('fixed-point efficiency score'),
  point_price: Uint('median point price of the block'),
});
export type HeaderJson = Static<typeof HeaderJson>;

export const TxJson = Type.Object({
  hash: Hash32,
  from: Address,
  size: Uint('encoded size in bytes'),
  tx: Type.Object({
    v: Type.Integer(),
    chain_id: Type.String(),
    kind: StringEnum(TX_KINDS),
    nonce: Uint(),
    point_price: Uint(),
    body: JsonObject('kind-specific body; byte strings as hex'),
  }),
  signer: HexBytes,
  sig: HexBytes,
});
export type TxJson = Static<typeof TxJson>;

export const ColourTransitionJson = Type.Object({
  address: Address,
  from: Colour,
  to: Colour,
  tx_hash: Hash32,
});

export const VoteJson = Type.Object({
  validator: Address,
  vote: Type.Object({
    v: Type.Integer(),
    chain_id: Type.String(),
    height: Uint(),
    round: Uint(),
    type: StringEnum(['prevote', 'precommit'] as const),
    block_hash: Nullable(Hash32),
    ranking: Type.Array(Hash32),
  }),
  signer: HexBytes,
  sig: HexBytes,
});

export const CertificateJson = Type.Object({
  height: Uint(),
  round: Uint(),
  block_hash: Hash32,
  votes: Type.Array(VoteJson),
});
export type CertificateJson = Static<typeof CertificateJson>;

export const BlockJson = Type.Object({
  hash: Hash32,
  height: Uint(),
  header: HeaderJson,
  txs: Type.Array(TxJson),
  colours: Type.Array(ColourTransitionJson),
  last_commit: Nullable(CertificateJson),
  certificate: Nullable(CertificateJson),
});
export type BlockJson = Static<typeof BlockJson>;

export const SubmittedJson = Type.Object({ hash: Hash32 });

/** One refused item of a batch: the error body the single route would answer, plus the code. */
export const BatchRejectedJson = Type.Object(
  {
    error: StringEnum(
      ['transaction_rejected', 'service_unavailable'] as const,
      'as POST /v1/transactions would answer: service_unavailable for mempool_full and unavailable',
    ),
    code: Type.String({ description: 'the ChainError code (bad_signature, duplicate, mempool_full, …)' }),
    message: Type.String({ description: 'human-readable explanation' }),
    details: JsonObject('the ChainError details, with `code` again'),
  },
  { description: 'a transaction the node refused' },
);
export type BatchRejectedJson = Static<typeof BatchRejectedJson>;

export const BatchSubmittedJson = Type.Object({
  accepted: Uint('transactions admitted to the mempool'),
  rejected: Uint('transactions refused'),
  results: Type.Array(
    Type.Union([
      Type.Object({ hash: Hash32 }, { description: 'admitted to the mempool: the transaction hash' }),
      BatchRejectedJson,
    ]),
    { description: 'one per submitted transaction, in order' },
  ),
});
export type BatchSubmittedJson = Static<typeof BatchSubmittedJson>;

export const TxStatusJson = Type.Object({
  status: StringEnum(['pending', 'committed'] as const),
  hash: Hash32,
  tx: TxJson,
  height: Type.Optional(Uint('committed only')),
  index: Type.Optional(Uint('committed only: position in the block')),
  block_hash: Type.Optional(Hash32),
  timestamp: Type.Optional(Uint('committed only: block timestamp (ms)')),
});
export type TxStatusJson = Static<typeof TxStatusJson>;

// ---- node status --------------------------------------------------------------------------------

export const HealthJson = Type.Object({
  status: StringEnum(['ok'] as const),
  height: Uint(),
  syncing: Type.Boolean(),
});

export const StatusJson = Type.Object({
  chain_id: Type.String(),
  latest_block: Type.Object({
    height: Uint('0 before the first block'),
    hash: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'block hash; the genesis hash at height 0' }),
    timestamp: Uint('ms; the genesis time at height 0'),
    state_root: Hash32,
  }),
  node_info: Type.Object({
    version: Type.String(),
    peer_id: Type.String(),
    peer_count: Uint(),
    syncing: Type.Boolean(),
    moniker: Type.String(),
    validator: Nullable(Address),
    listen_addrs: Type.Array(Type.String()),
  }),
  consensus: Type.Object({ height: Uint(), round: Uint(), step: Type.String() }),
  mempool: Type.Object({ size: Uint('transactions'), bytes: Uint() }),
});
export type StatusJson = Static<typeof StatusJson>;

// ---- state records and proofs -------------------------------------------------------------------

export const StateProofJson = Type.Object({
  depth: Type.Integer({ minimum: 0, maximum: 256 }),
  bitmap: HexBytes,
  siblings: Type.Array(Hash32),
  leaf: Nullable(Type.Object({ path: Hash32, value_hash: Hash32 })),
});
export type StateProofJson = Static<typeof StateProofJson>;

export const RecordProofJson = Type.Object(
  {
    key: Type.String({ description: 'state key, e.g. account/self1…' }),
    value: Nullable(HexBytes),
    state_root: Hash32,
    height: Uint('height of the block whose state_root this is (0: genesis)'),
    block_hash: Hash32,
    proof: StateProofJson,
  },
  {
    description:
      'Merkle proof of `value` (canonical CBOR of the record, or null for absence) under `state_root`; ' +
      'check with verifyStateProof(state_root, key, value, proof)',
  },
);
export type RecordProofJson = Static<typeof RecordProofJson>;

export const AccountJson = Type.Object({
  address: Address,
  exists: Type.Boolean({ description: 'false: never seen on chain (all fields zero, proof of absence)' }),
  balance: Uint(),
  nonce: Uint('nonce of the last included transaction; the next one is nonce + 1'),
  colour: Colour,
  bonded: Uint(),
  unbonding: Type.Array(Type.Object({ amount: Uint(), release_height: Uint() })),
  public_key: Nullable(HexBytes),
  proof: RecordProofJson,
});
export type AccountJson = Static<typeof AccountJson>;

export const ValidatorJson = Type.Object({
  address: Address,
  public_key: HexBytes,
  bonded: Uint(),
  reputation: Uint('fixed-point, 0..10000'),
  jailed_until: Uint(),
  slashed: Type.Boolean(),
  last_signed_height: Uint(),
  active: Type.Boolean({ description: 'may build and vote at the next height' }),
  in_committee: Type.Boolean({ description: 'drawn into the committee of the next height' }),
});

export const ValidatorsJson = Type.Object({
  height: Uint('latest committed height'),
  committee: Type.Object({ height: Uint(), quorum: Uint(), members: Type.Array(Address) }),
  validators: Type.Array(ValidatorJson),
});
export type ValidatorsJson = Static<typeof ValidatorsJson>;

export const AppJson = Type.Object({
  app_id: Type.String(),
  owner: Address,
  owner_did: Type.String({ description: 'did:self:<owner>' }),
  name: Type.String(),
  logo_uri: Type.String({ description: "'' when the app has no logo" }),
  redirect_uris: Type.Array(Type.String()),
  scopes: Type.Array(Type.String()),
  active: Type.Boolean(),
  created_height: Uint(),
  updated_height: Uint(),
  proof: RecordProofJson,
});
export type AppJson = Static<typeof AppJson>;

export const DidResolutionJson = Type.Object(
  {
    didDocument: JsonObject('W3C DID Core document'),
    didResolutionMetadata: Type.Object({ contentType: Type.String() }),
    didDocumentMetadata: Type.Object({
      created: Type.String(),
      updated: Type.String(),
      versionId: Type.String(),
      deactivated: Type.Boolean(),
      createdHeight: Uint(),
      updatedHeight: Uint(),
    }),
    proof: RecordProofJson,
    controllerProof: RecordProofJson,
  },
  {
    description:
      'W3C DID Resolution result, plus Merkle proofs of the DID record and of the controller account ' +
      '(whose public key the document renders as #account)',
  },
);
export type DidResolutionJson = Static<typeof DidResolutionJson>;

export const DidNotFoundJson = Type.Object(
  {
    error: Type.String(),
    message: Type.String(),
    details: JsonObject('context'),
    didDocument: Nullable(JsonObject('always null')),
    didResolutionMetadata: Type.Object({ error: Type.String({ description: 'notFound or invalidDid' }) }),
    didDocumentMetadata: JsonObject('empty'),
    proof: Type.Optional(RecordProofJson),
  },
  { description: 'W3C DID Resolution error result, with a proof of absence for notFound' },
);
export type DidNotFoundJson = Static<typeof DidNotFoundJson>;

// ---- WebSocket frames ---------------------------------------------------------------------------

export const WS_CHANNELS = ['blocks', 'transactions', 'validators'] as const;
export type WsChannel = (typeof WS_CHANNELS)[number];

/** Data of a `blocks` frame. */
export const BlockEventJson = Type.Object({
  height: Uint(),
  hash: Hash32,
  round: Uint(),
  header: HeaderJson,
  tx_count: Uint(),
});
export type BlockEventJson = Static<typeof BlockEventJson>;
