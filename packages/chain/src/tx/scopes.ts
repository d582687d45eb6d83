/**
 * OAuth scopes an app may request (docs/scopes.md). `storage:read|write` reach the app's own
 * namespace; `storage:<collection>:read|write` reach one of the person's collections.
 */
export const FIXED_SCOPES = [
  'profile:read',
  'storage:read',
  'storage:write',
  'ai:chat',
  'ai:memory',
  'chain:read',
] as const;

/** Collection names: lowercase, start with a letter, at most 32 characters. */
export const COLLECTION_RE = /^[a-z][a-z0-9_-]{0,31}$/;
const COLLECTION_SCOPE_RE = /^storage:([a-z][a-z0-9_-]{0,31}):(read|write)$/;

export function isValidScope(scope: string): boolean {
  return (FIXED_SCOPES as readonly string[]).includes(scope) || COLLECTION_SCOPE_RE.test(scope);
}
