import { isDid } from '@self/crypto';
import { TIERS, TIER_QUOTA_BYTES } from '@self/instance';
import { ProvisionerError } from './errors.js';
import type { InstanceRequest, InstanceSpec } from './types.js';

/** Input checks of the Provisioner methods: a malformed argument is `invalid_argument`, never a crash. */

const bad = (message: string): never => {
  throw new ProvisionerError('invalid_argument', message);
};

export function checkSpec(spec: InstanceSpec): InstanceSpec {
  if (typeof spec !== 'object' || spec === null)
    bad('an instance spec is {did, tier, mode, personEncryptionKey}');
  if (!isDid(spec.did)) bad('did is a did:self DID');
  if (!TIERS.includes(spec.tier)) bad(`tier is one of ${TIERS.join(', ')}`);
  if (spec.mode !== 'always-on' && spec.mode !== 'sovereign') bad('mode is "always-on" or "sovereign"');
  if (!(spec.personEncryptionKey instanceof Uint8Array)) {
    bad("personEncryptionKey is the person's hybrid KEM public key");
  }
  if (spec.tier === 'enterprise') {
    if (!Number.isSafeInteger(spec.quotaBytes) || (spec.quotaBytes as number) < 1) {
      bad('the enterprise tier needs quotaBytes, a whole number of bytes ≥ 1');
    }
  } else if (spec.quotaBytes !== undefined && spec.quotaBytes !== TIER_QUOTA_BYTES[spec.tier]) {
    bad(`the ${spec.tier} tier's quota is fixed at ${TIER_QUOTA_BYTES[spec.tier]} bytes`);
  }
  return spec;
}

const METHOD_RE = /^[A-Z]{3,7}$/;

function hasSpaceOrControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
}

export function checkRequest(req: InstanceRequest): void {
  if (typeof req !== 'object' || req === null) bad('a request is {method, path, headers, body?}');
  if (typeof req.method !== 'string' || !METHOD_RE.test(req.method.toUpperCase()))
    bad('method is an HTTP method');
  if (typeof req.path !== 'string' || !req.path.startsWith('/') || hasSpaceOrControl(req.path)) {
    bad('path is an absolute request path without spaces or control characters');
  }
  if (typeof req.headers !== 'object' || req.headers === null) bad('headers is an object of strings');
  if (req.body !== undefined && !(req.body instanceof Uint8Array)) bad('body is bytes');
}
