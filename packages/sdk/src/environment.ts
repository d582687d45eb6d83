import { SELFError } from './errors.js';

/**
 * Which SELF cloud to talk to: `'testnet'` (the local SELF cloud `npm start` runs, at
 * {@link TESTNET_URL}), `'production'`, or `{baseUrl}` for any other cloud (its public URL, which is
 * also its OAuth issuer).
 */
export type SELFEnvironment = 'testnet' | 'production' | { baseUrl: string };

/** Where `environment: 'testnet'` points: the cloud `npm start` (`self up`) serves. */
export const TESTNET_URL = 'http://127.0.0.1:8080';

/** A cloud's base URL without a trailing slash (the form its OAuth issuer takes). */
export function normalizeBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SELFError('INVALID_REQUEST', `not a URL: ${raw}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new SELFError('INVALID_REQUEST', `a SELF cloud is reached over http(s), not ${url.protocol}`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new SELFError('INVALID_REQUEST', 'a SELF cloud base URL has no query or fragment');
  }
  return url.href.replace(/\/+$/, '');
}

/** The base URL of an environment. */
export function resolveEnvironment(env: SELFEnvironment): string {
  if (env === 'testnet') return TESTNET_URL;
  if (env === 'production') {
    // No public production cloud exists yet; guessing a host would send people's tokens somewhere.
    throw new SELFError(
      'INVALID_REQUEST',
      "there is no public SELF production cloud yet: pass environment: { baseUrl: '<your cloud>' }",
    );
  }
  return normalizeBaseUrl(env.baseUrl);
}
