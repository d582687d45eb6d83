#!/usr/bin/env node
// The instance process (packages/instance/src/process/protocol.ts), run from TypeScript sources
// through tsx. The instance manager runs an esbuild bundle of the same entry instead, which
// starts several times faster (src/process/bundle.ts).
import { register } from 'tsx/esm/api';

register();
await import('../src/process/entry.ts');
export {};
