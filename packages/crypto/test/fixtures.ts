/** Shared test inputs. */
import { CryptoError, type CryptoErrorReason } from '../src/errors.js';

/** The standard all-zero-entropy 24-word BIP39 phrase. */
export const ABANDON_PHRASE = `${'abandon '.repeat(23)}art`;

/** A copy of `bytes` with one bit flipped at `index` (negative counts from the end). */
export function flipBit(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const out = Uint8Array.from(bytes);
  const i = index < 0 ? out.length + index : index;
  out[i] = out[i]! ^ (1 << bit);
  return out;
}

/** `length` bytes counting up from `start`: readable fixed inputs for vectors. */
export function sequence(start: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}

/** Runs `fn`, expecting it to throw a CryptoError with `reason`; returns the error for more checks. */
export function expectCryptoError(fn: () => unknown, reason: CryptoErrorReason): CryptoError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  if (!(caught instanceof CryptoError))
    throw new Error(`expected a CryptoError(${reason}), got ${String(caught)}`);
  if (caught.reason !== reason)
    throw new Error(`expected CryptoError reason ${reason}, got ${caught.reason}: ${caught.message}`);
  return caught;
}
