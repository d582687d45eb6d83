export { VerifyPool, VerifyPoolError, type VerifyPoolOptions, type VerifyResult } from './verify-pool.js';
export { verifyInto } from './verify-into.js';
export { checkTransaction, signedDigestHex } from './check-chunk.js';
export { measureVerifyRate, type VerifyRate } from './measure.js';
