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

/**
 * Each fixed scope in the plain words a person is shown before approving (docs/scopes.md, "what
 * the person is told"). One table for every place that shows a consent: the cloud's page and the
 * device that signs, so the words beside a signed scope are the same everywhere.
 */
const FIXED_SCOPE_WORDS: Readonly<Record<(typeof FIXED_SCOPES)[number], string>> = {
  'profile:read': 'See your SELF identity (your DID) and the profile you keep in SELF',
  'storage:read': 'Read the data this app saved in your SELF',
  'storage:write': 'Save and delete this app’s own data in your SELF',
  'ai:chat': 'Ask your private AI questions and get its answers (never your raw records)',
  'ai:memory': 'Let your private AI use what it remembers about you when it answers this app',
  'chain:read': 'See your public SELF Chain account (address, balance, DID document)',
};

/** A scope in plain words; anything that is not a valid scope is named as unknown. */
export function describeScope(scope: string): string {
  const fixed = (FIXED_SCOPE_WORDS as Readonly<Record<string, string>>)[scope];
  if (fixed !== undefined) return fixed;
  const m = COLLECTION_SCOPE_RE.exec(scope);
  if (m === null) return `an unknown permission (${scope})`;
  return m[2] === 'read'
    ? `Read your ${m[1]} collection`
    : `Add, change and delete items in your ${m[1]} collection`;
}
