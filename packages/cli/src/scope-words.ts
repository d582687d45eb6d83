import { describeScope } from '@self/chain';

/**
 * Each OAuth scope in plain words, from the chain package's table (docs/scopes.md). The device
 * words them itself rather than showing the cloud's descriptions: what the person approves is the
 * scope string they sign, so the text beside it must come from the code that signs, not from the
 * server asking.
 */
export const scopeInWords = describeScope;
