#!/usr/bin/env node
// The CLI ships as TypeScript sources; tsx's loader runs them without a build step,
// so `npm install && npm start` works from a fresh clone.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
