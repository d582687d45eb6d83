import { identityFromSeed, sha512, utf8, type DeviceIdentity, type SigningKey } from '@self/crypto';
import {
  encodeSignedTransaction,
  signTransaction,
  type DidDocumentData,
  type Transaction,
  type TxKind,
  type TxBodies,
} from '@self/chain';

/** A fixed identity per name (identityFromSeed takes about a second: make each once per file). */
export function person(name: string): DeviceIdentity {
  return identityFromSeed(sha512(utf8(`self-cloud-test-${name}`)));
}

/** Several people at once, typed as a tuple so they destructure: `[alice, bob] = people('alice', 'bob')`. */
export function people<const T extends readonly string[]>(...names: T): { [K in keyof T]: DeviceIdentity } {
  return names.map(person) as { [K in keyof T]: DeviceIdentity };
}

export function documentOf(p: DeviceIdentity, extra: Partial<DidDocumentData> = {}): DidDocumentData {
  return {
    root_key: p.rootPublicKey,
    encryption_key: p.encryptionPublicKey,
    delegates: [],
    services: [],
    ...extra,
  };
}

export const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');

export interface TxOptions {
  chainId: string;
  nonce?: number;
  pointPrice?: number;
}

/** A signed transaction of any kind, base64url-encoded as the gateway takes it. */
export function signedTx<K extends TxKind>(
  key: SigningKey,
  kind: K,
  body: TxBodies[K],
  o: TxOptions,
): string {
  const tx: Transaction<K> = {
    v: 1,
    chain_id: o.chainId,
    kind,
    nonce: o.nonce ?? 1,
    point_price: o.pointPrice ?? 1,
    body,
  };
  return b64url(encodeSignedTransaction(signTransaction(tx, key)));
}

export function didCreate(p: DeviceIdentity, o: TxOptions): string {
  return signedTx(p.account, 'did.create', { document: documentOf(p) }, o);
}
