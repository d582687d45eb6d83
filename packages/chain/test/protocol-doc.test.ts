import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, TIMING_PROFILES } from '../src/params.js';
import { DOMAIN } from '../src/types.js';
import { docVector } from '../../../scripts/doc-vectors.js';

describe('docs/protocol.md pins the code', () => {
  it('hash domains', () => expect(docVector('docs/protocol.md', 'hash-domains')).toEqual(DOMAIN));
  it('default parameters', () =>
    expect(docVector('docs/protocol.md', 'default-params')).toEqual(DEFAULT_PARAMS));
  it('timing profiles', () =>
    expect(docVector('docs/protocol.md', 'timing-profiles')).toEqual(TIMING_PROFILES));
});
