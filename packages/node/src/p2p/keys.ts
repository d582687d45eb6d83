import '../polyfills.js';
import { randomBytes } from 'node:crypto';
import { privateKeyFromProtobuf, privateKeyFromRaw, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { ed25519PublicKeyFromSeed } from '@self/crypto';
import { P2PError } from './errors.js';

/**
 * A fresh Ed25519 libp2p identity, as the protobuf-marshalled private key libp2p itself uses
 * (`privateKeyToProtobuf`). The caller stores it (the home directory's `keys/peer.key`).
 */
export function generatePeerKey(): Uint8Array {
  const seed = new Uint8Array(randomBytes(32));
  // libp2p's raw Ed25519 private key is the seed followed by the public key.
  const raw = new Uint8Array(64);
  raw.set(seed, 0);
  raw.set(ed25519PublicKeyFromSeed(seed), 32);
  return privateKeyToProtobuf(privateKeyFromRaw(raw));
}

/** Parses stored key bytes; throws P2PError('bad_peer_key') for anything but an Ed25519 key. */
export function privateKeyFromBytes(bytes: Uint8Array): PrivateKey {
  let key: PrivateKey;
  try {
    key = privateKeyFromProtobuf(bytes);
  } catch (err) {
    throw new P2PError(
      'bad_peer_key',
      `peer key is not a marshalled libp2p private key: ${(err as Error).message}`,
    );
  }
  if (key.type !== 'Ed25519') throw new P2PError('bad_peer_key', `peer key must be Ed25519, got ${key.type}`);
  return key;
}

/** The peer id (base58btc, `12D3KooW…`) of stored key bytes, without starting anything. */
export function peerIdFromKeyBytes(bytes: Uint8Array): string {
  return peerIdFromPrivateKey(privateKeyFromBytes(bytes)).toString();
}
