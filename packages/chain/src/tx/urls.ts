/** Hosts where plain http is acceptable: traffic never leaves the machine (RFC 8252 §7.3). */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function parseUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

/**
 * OAuth 2.1 redirect URI: an absolute https URL, or http on a loopback host; no fragment and no
 * credentials. The authorization server compares redirect URIs as exact strings.
 */
export function isValidRedirectUri(text: string): boolean {
  const url = parseUrl(text);
  if (!url || text.includes('#') || url.username !== '' || url.password !== '') return false;
  if (url.protocol === 'https:') return url.hostname !== '';
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}

/**
 * An app's logo: '' for none, else the redirect-URI form (https, or http on a loopback host; no
 * fragment, no credentials), so a consent screen never loads it from an arbitrary scheme.
 */
export function isValidLogoUri(text: string): boolean {
  return text === '' || isValidRedirectUri(text);
}

/** DID service endpoints: absolute http(s) or ws(s) URLs without credentials. */
export function isValidServiceEndpoint(text: string): boolean {
  const url = parseUrl(text);
  if (!url || url.username !== '' || url.password !== '' || url.hostname === '') return false;
  return ['https:', 'http:', 'wss:', 'ws:'].includes(url.protocol);
}
