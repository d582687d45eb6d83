#!/usr/bin/env node
// The inference service as a process (see src/service/main.ts); tsx runs the TypeScript sources.
import { register } from 'tsx/esm/api';

register();
await import('../src/service/main.ts');
