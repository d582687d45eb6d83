import { multibaseBase58btc } from '@self/chain';

/**
 * What the person's DID document lets the instance key sign: the `selfPurposes` of the
 * verification method whose key is the instance key, in the W3C resolution result the node serves
 * (`GET /v1/dids/{did}`, packages/chain/src/did-document.ts). Empty when the key is not a delegate.
 */
export function delegatedPurposes(resolution: unknown, publicKey: Uint8Array): string[] {
  const doc = (resolution as { didDocument?: { verificationMethod?: unknown } } | null)?.didDocument;
  const methods = doc?.verificationMethod;
  if (!Array.isArray(methods)) return [];
  const multibase = multibaseBase58btc(publicKey);
  for (const m of methods as Array<{ publicKeyMultibase?: unknown; selfPurposes?: unknown }>) {
    if (m?.publicKeyMultibase !== multibase || !Array.isArray(m.selfPurposes)) continue;
    return m.selfPurposes.filter((p): p is string => typeof p === 'string');
  }
  return [];
}
