import type { GrantAnchorKind } from '../grants/commitments.js';
import type { Instance } from '../instance.js';
import type { NodeAnnouncement } from './node-record.js';

/**
 * The one chain transaction the anchorer has signed and not yet seen committed, kept in the
 * instance database BEFORE it is submitted. After a crash the next run looks it up by hash:
 * committed → record it (markAnchored); unknown and its nonce still free → submit the same bytes
 * again; unknown and its nonce used → it can never commit, build a new one. So a restart neither
 * submits a second anchor for a segment whose anchor committed, nor skips one: segments are
 * anchored strictly in id order, one transaction at a time.
 */
export type Outbox =
  // `of`: which segments the anchor commits; absent for the audit log's (the only kind before grants).
  | { kind: 'anchor'; segment: number; of?: GrantAnchorKind; hash: string; nonce: number; tx: string }
  | { kind: 'node.announce'; record: NodeAnnouncement; hash: string; nonce: number; tx: string };

/** The node record last committed for this instance, with where it committed. */
export interface Announced {
  record: NodeAnnouncement;
  hash: string;
  height: number;
}

const OUTBOX = 'chain.outbox';
const ANNOUNCED = 'chain.announced';

const isHex = (v: unknown): v is string => typeof v === 'string' && /^(?:[0-9a-f]{2})+$/.test(v);

function isAnnouncement(v: unknown): v is NodeAnnouncement {
  const r = v as Partial<NodeAnnouncement> | null;
  const strings = (x: unknown): boolean => Array.isArray(x) && x.every((s) => typeof s === 'string');
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.did === 'string' &&
    typeof r.peer_id === 'string' &&
    typeof r.version === 'string' &&
    strings(r.multiaddrs) &&
    strings(r.roles)
  );
}

function isOutbox(v: unknown): v is Outbox {
  const o = v as Partial<Record<string, unknown>> | null;
  if (typeof o !== 'object' || o === null) return false;
  if (!isHex(o.hash) || o.hash.length !== 64 || !isHex(o.tx) || !Number.isSafeInteger(o.nonce)) return false;
  if (o.kind === 'anchor') {
    if (o.of !== undefined && o.of !== 'consent' && o.of !== 'revocation') return false;
    return Number.isSafeInteger(o.segment) && (o.segment as number) >= 1;
  }
  return o.kind === 'node.announce' && isAnnouncement(o.record);
}

/** The pending transaction, or null. A malformed record (never written by this code) is dropped. */
export function readOutbox(instance: Instance): Outbox | null {
  const v = instance.runtimeRecord(OUTBOX);
  return isOutbox(v) ? v : null;
}

export function writeOutbox(instance: Instance, outbox: Outbox | null): void {
  instance.setRuntimeRecord(OUTBOX, outbox);
}

export function readAnnounced(instance: Instance): Announced | null {
  const v = instance.runtimeRecord(ANNOUNCED) as Partial<Announced> | null;
  if (v === null || typeof v !== 'object' || !isAnnouncement(v.record)) return null;
  return v as Announced;
}

export function writeAnnounced(instance: Instance, announced: Announced): void {
  instance.setRuntimeRecord(ANNOUNCED, announced);
}
