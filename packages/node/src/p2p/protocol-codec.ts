import { decode, encode } from '@self/chain';
import { plain } from './gossip-codec.js';
import { BadRequest, RequestError } from './request-response.js';

/** Deterministic CBOR of the request/response bodies (`@self/chain`'s `encode`). */
export const encodeBody = (value: unknown): Uint8Array => plain(encode(value));

function object(bytes: Uint8Array, keys: string[], fail: (msg: string) => Error): Record<string, unknown> {
  let value: unknown;
  try {
    value = decode(bytes, bytes.length);
  } catch (err) {
    throw fail((err as Error).message);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array)
    throw fail('expected a map');
  const o = value as Record<string, unknown>;
  if (Object.keys(o).length !== keys.length || !keys.every((k) => k in o))
    throw fail(`expected exactly the fields ${keys.join(', ')}`);
  return o;
}

const badRequest = (m: string): Error => new BadRequest(m);
const badResponse = (m: string): Error => new RequestError('malformed', m);

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;

// ---------------------------------------------------------------- block sync

export interface SyncRequest {
  from: number;
  max: number;
}
export type SyncBlock = { block: Uint8Array; cert: Uint8Array };

export function parseSyncRequest(bytes: Uint8Array): SyncRequest {
  const o = object(bytes, ['from', 'max'], badRequest);
  if (!isUint(o.from) || o.from < 1) throw new BadRequest('from must be a height >= 1');
  if (!isUint(o.max) || o.max < 1) throw new BadRequest('max must be >= 1');
  return { from: o.from, max: o.max };
}

export function parseSyncResponse(bytes: Uint8Array, maxBlocks: number): SyncBlock[] {
  const o = object(bytes, ['blocks'], badResponse);
  const blocks = o.blocks;
  if (!Array.isArray(blocks) || blocks.length > maxBlocks)
    throw badResponse('blocks must list at most max blocks');
  return blocks.map((b: unknown) => {
    const item = b as Record<string, unknown> | null;
    if (typeof item !== 'object' || item === null || Object.keys(item).length !== 2)
      throw badResponse('bad block entry');
    if (!isBytes(item.block) || !isBytes(item.cert)) throw badResponse('block and cert must be byte strings');
    return { block: item.block, cert: item.cert };
  });
}

// ---------------------------------------------------------------- missing transactions

export function parseTxsRequest(bytes: Uint8Array, maxDigests: number): Uint8Array[] {
  const o = object(bytes, ['digests'], badRequest);
  const d = o.digests;
  if (!Array.isArray(d) || d.length === 0 || d.length > maxDigests)
    throw new BadRequest('digests must list 1..maxFetchTxs hashes');
  if (!d.every((x) => isBytes(x) && x.length === 32)) throw new BadRequest('a digest is not 32 bytes');
  return d as Uint8Array[];
}

/** One entry per requested digest: the transaction's bytes, or null where the server lacks it. */
export function parseTxsResponse(bytes: Uint8Array, count: number): Array<Uint8Array | null> {
  const o = object(bytes, ['txs'], badResponse);
  const txs = o.txs;
  if (!Array.isArray(txs) || txs.length !== count) throw badResponse('txs must answer every digest');
  if (!txs.every((t) => t === null || isBytes(t))) throw badResponse('txs entries must be bytes or null');
  return txs as Array<Uint8Array | null>;
}

// ---------------------------------------------------------------- full proposals

export function parseProposalRequest(bytes: Uint8Array): Uint8Array {
  const o = object(bytes, ['digest'], badRequest);
  if (!isBytes(o.digest) || o.digest.length !== 32) throw new BadRequest('digest must be 32 bytes');
  return o.digest;
}

export function parseProposalResponse(bytes: Uint8Array): Uint8Array | null {
  const o = object(bytes, ['data'], badResponse);
  if (o.data !== null && !isBytes(o.data)) throw badResponse('data must be bytes or null');
  return o.data;
}
