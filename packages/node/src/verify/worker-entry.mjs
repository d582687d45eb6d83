// Entry of a VerifyPool worker thread. The sources are TypeScript run through tsx, and a worker
// thread does not inherit loaders registered with register() in the main thread (bin/self.js,
// vitest), so the worker registers tsx itself before loading the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./verify-worker.ts');
