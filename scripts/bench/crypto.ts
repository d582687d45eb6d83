/**
 * `npm run bench -- crypto`: throughput of the primitives behind SELF keys.
 *
 * Signatures and KEM operations per second for each backend (native PQClean vs pure-JS noble, and
 * their ratio), the hybrid schemes as the chain and the instance use them, and AEAD throughput on
 * 1 MiB messages. Prints human lines, then one last line of JSON with every figure. Each figure
 * is the best of a few fixed time slices, so the whole run stays well under a minute.
 */
import { randomBytes } from 'node:crypto';
import { SLICES, bestRate } from './lib/timing.js';
import {
  AEAD_KEY_BYTES,
  accountKeysFromSeed,
  ed25519PrivateKeyObject,
  ed25519PublicKeyFromSeed,
  ed25519Sign,
  ed25519Verify,
  hybridKemDecapsulate,
  hybridKemEncapsulate,
  hybridKemKeyPairFromSeeds,
  mldsa65KeyPairFromSeed,
  mldsaBackend,
  mlkem768KeyPairFromSeed,
  mlkemBackend,
  nativeMlDsa65,
  nativeMlKem768,
  nobleMlDsa65,
  nobleMlKem768,
  nobleXChaCha20Poly1305,
  open,
  seal,
  verifySignature,
  xchachaBackend,
  type AeadAlg,
} from '@self/crypto';

// Crypto operations are short and steady: a longer default slice than the state benchmark's.
const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? 400);
const MIB = 1 << 20;

/** Best of SLICES time slices after a warm-up (scripts/bench/lib/timing.ts). */
const perSecond = (fn: () => unknown): number => bestRate(fn, { sliceMs: SLICE_MS });

const round = (n: number, digits = 1): number => Number(n.toFixed(digits));
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

function line(label: string, value: number, unit: string): void {
  console.log(`${label.padEnd(44)} ${round(value).toLocaleString('en-US').padStart(12)} ${unit}`);
}

const message = bytes(256);

// Ed25519 through Node's OpenSSL.
const edSeed = bytes(32);
const edKey = ed25519PrivateKeyObject(edSeed);
const edPublic = ed25519PublicKeyFromSeed(edSeed);
const edSig = ed25519Sign(edKey, message);
const ed25519 = {
  signPerSec: perSecond(() => ed25519Sign(edKey, message)),
  verifyPerSec: perSecond(() => ed25519Verify(edPublic, message, edSig)),
};
line('Ed25519 sign (node)', ed25519.signPerSec, 'ops/s');
line('Ed25519 verify (node)', ed25519.verifyPerSec, 'ops/s');

// ML-DSA-65: the native binding (when built) against noble, on the same seeded key.
const dsa = mldsa65KeyPairFromSeed(bytes(32));
const nobleDsaSig = nobleMlDsa65.sign(dsa.secretKey, message);
const mldsaNoble = {
  signPerSec: perSecond(() => nobleMlDsa65.sign(dsa.secretKey, message)),
  verifyPerSec: perSecond(() => nobleMlDsa65.verify(dsa.publicKey, message, nobleDsaSig)),
};
line('ML-DSA-65 sign (noble)', mldsaNoble.signPerSec, 'ops/s');
line('ML-DSA-65 verify (noble)', mldsaNoble.verifyPerSec, 'ops/s');
let mldsaNative: { signPerSec: number; verifyPerSec: number } | null = null;
if (nativeMlDsa65) {
  const native = nativeMlDsa65;
  const nativeSig = native.sign(dsa.secretKey, message);
  mldsaNative = {
    signPerSec: perSecond(() => native.sign(dsa.secretKey, message)),
    verifyPerSec: perSecond(() => native.verify(dsa.publicKey, message, nativeSig)),
  };
  line('ML-DSA-65 sign (pqclean)', mldsaNative.signPerSec, 'ops/s');
  line('ML-DSA-65 verify (pqclean)', mldsaNative.verifyPerSec, 'ops/s');
  console.log(
    `ML-DSA-65 pqclean/noble ratio: sign ${round(mldsaNative.signPerSec / mldsaNoble.signPerSec, 2)}x, ` +
      `verify ${round(mldsaNative.verifyPerSec / mldsaNoble.verifyPerSec, 2)}x`,
  );
}

// The hybrid account scheme as the chain uses it (0x02, both halves; ML-DSA on the default backend).
const { account } = accountKeysFromSeed(bytes(64));
const hybridSig = account.sign(message);
const hybridSignature = {
  signPerSec: perSecond(() => account.sign(message)),
  verifyPerSec: perSecond(() => verifySignature(account.publicKey, message, hybridSig)),
};
line(`hybrid Ed25519+ML-DSA-65 sign (${mldsaBackend})`, hybridSignature.signPerSec, 'ops/s');
line(`hybrid Ed25519+ML-DSA-65 verify (${mldsaBackend})`, hybridSignature.verifyPerSec, 'ops/s');

// ML-KEM-768 on each backend, then the hybrid KEM as the sealed box uses it.
const kem = mlkem768KeyPairFromSeed(bytes(64));
const nobleCt = nobleMlKem768.encapsulate(kem.publicKey).ciphertext;
const mlkemNoble = {
  encapsPerSec: perSecond(() => nobleMlKem768.encapsulate(kem.publicKey)),
  decapsPerSec: perSecond(() => nobleMlKem768.decapsulate(kem.secretKey, nobleCt)),
};
line('ML-KEM-768 encaps (noble)', mlkemNoble.encapsPerSec, 'ops/s');
line('ML-KEM-768 decaps (noble)', mlkemNoble.decapsPerSec, 'ops/s');
let mlkemNative: { encapsPerSec: number; decapsPerSec: number } | null = null;
if (nativeMlKem768) {
  const native = nativeMlKem768;
  const nativeCt = native.encapsulate(kem.publicKey).ciphertext;
  mlkemNative = {
    encapsPerSec: perSecond(() => native.encapsulate(kem.publicKey)),
    decapsPerSec: perSecond(() => native.decapsulate(kem.secretKey, nativeCt)),
  };
  line('ML-KEM-768 encaps (pqclean)', mlkemNative.encapsPerSec, 'ops/s');
  line('ML-KEM-768 decaps (pqclean)', mlkemNative.decapsPerSec, 'ops/s');
  console.log(
    `ML-KEM-768 pqclean/noble ratio: encaps ${round(mlkemNative.encapsPerSec / mlkemNoble.encapsPerSec, 2)}x, ` +
      `decaps ${round(mlkemNative.decapsPerSec / mlkemNoble.decapsPerSec, 2)}x`,
  );
}
const hybridKeys = hybridKemKeyPairFromSeeds({ x25519: bytes(32), mlkem768: bytes(64) });
const hybridCt = hybridKemEncapsulate(hybridKeys.publicKey).ciphertext;
const hybridKem = {
  encapsPerSec: perSecond(() => hybridKemEncapsulate(hybridKeys.publicKey)),
  decapsPerSec: perSecond(() => hybridKemDecapsulate(hybridKeys.secretKey, hybridCt)),
};
line(`hybrid X25519+ML-KEM-768 encaps (${mlkemBackend})`, hybridKem.encapsPerSec, 'ops/s');
line(`hybrid X25519+ML-KEM-768 decaps (${mlkemBackend})`, hybridKem.decapsPerSec, 'ops/s');

// AEAD envelopes on 1 MiB messages (header, nonce and copies included: what callers get).
const aeadKey = bytes(AEAD_KEY_BYTES);
const oneMiB = bytes(MIB);
function envelopeThroughput(alg: AeadAlg): { sealMiBps: number; openMiBps: number } {
  const sealed = seal(aeadKey, oneMiB, { alg });
  return {
    sealMiBps: perSecond(() => seal(aeadKey, oneMiB, { alg })),
    openMiBps: perSecond(() => open(aeadKey, sealed)),
  };
}
const aesGcm = envelopeThroughput('aes-256-gcm');
line('AES-256-GCM envelope seal, 1 MiB (node)', aesGcm.sealMiBps, 'MiB/s');
line('AES-256-GCM envelope open, 1 MiB (node)', aesGcm.openMiBps, 'MiB/s');
const xchacha = envelopeThroughput('xchacha20-poly1305');
line(`XChaCha20-Poly1305 envelope seal, 1 MiB`, xchacha.sealMiBps, 'MiB/s');
line(`XChaCha20-Poly1305 envelope open, 1 MiB`, xchacha.openMiBps, 'MiB/s');
const nonce24 = bytes(24);
const empty = new Uint8Array(0);
const nobleSealed = nobleXChaCha20Poly1305.seal(aeadKey, nonce24, oneMiB, empty);
const xchachaNoble = {
  sealMiBps: perSecond(() => nobleXChaCha20Poly1305.seal(aeadKey, nonce24, oneMiB, empty)),
  openMiBps: perSecond(() => nobleXChaCha20Poly1305.open(aeadKey, nonce24, nobleSealed, empty)),
};
line('XChaCha20-Poly1305 raw seal, 1 MiB (noble)', xchachaNoble.sealMiBps, 'MiB/s');
line('XChaCha20-Poly1305 raw open, 1 MiB (noble)', xchachaNoble.openMiBps, 'MiB/s');

const r = (o: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v)]));

console.log(
  JSON.stringify({
    benchmark: 'crypto',
    node: process.version,
    sliceMs: SLICE_MS,
    slices: SLICES,
    backends: { mldsa: mldsaBackend, mlkem: mlkemBackend, xchacha: xchachaBackend },
    ed25519: r(ed25519),
    mldsa65: {
      pqclean: mldsaNative ? r(mldsaNative) : null,
      noble: r(mldsaNoble),
      pqcleanOverNoble: mldsaNative
        ? {
            sign: round(mldsaNative.signPerSec / mldsaNoble.signPerSec, 2),
            verify: round(mldsaNative.verifyPerSec / mldsaNoble.verifyPerSec, 2),
          }
        : null,
    },
    hybridEd25519MlDsa65: r(hybridSignature),
    mlkem768: {
      pqclean: mlkemNative ? r(mlkemNative) : null,
      noble: r(mlkemNoble),
      pqcleanOverNoble: mlkemNative
        ? {
            encaps: round(mlkemNative.encapsPerSec / mlkemNoble.encapsPerSec, 2),
            decaps: round(mlkemNative.decapsPerSec / mlkemNoble.decapsPerSec, 2),
          }
        : null,
    },
    hybridX25519MlKem768: r(hybridKem),
    aeadMiBps1MiB: {
      'aes-256-gcm': r(aesGcm),
      'xchacha20-poly1305': r(xchacha),
      'xchacha20-poly1305-noble': r(xchachaNoble),
    },
  }),
);
