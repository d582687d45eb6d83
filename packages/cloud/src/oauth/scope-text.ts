import { FIXED_SCOPES } from '@self/chain';

export { describeScope } from '@self/chain';

/** The scopes the metadata advertises: the fixed ones (collection scopes are a pattern). */
export const SUPPORTED_SCOPES: readonly string[] = FIXED_SCOPES;
