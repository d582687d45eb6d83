import { signInOrigin, signSignIn, type SigningKey } from '@self/crypto';
import { CloudApiError, type CloudClient } from './cloud-client.js';

export interface SessionGrant {
  token: string;
  expires_at: number;
}

const b64url = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');

/**
 * Challenge–response sign-in with the account key: the cloud sends a single-use challenge, the
 * device signs signInMessage (which binds the server's origin, the DID and the challenge, so a
 * signature made for one server is useless at another) and gets a session token back.
 */
export async function signIn(client: CloudClient, did: string, account: SigningKey): Promise<SessionGrant> {
  const challenge = await client.json<{ challenge: string; expires_at: number }>(
    'POST',
    '/v1/auth/challenge',
    {
      json: { did },
      auth: false,
    },
  );
  if (typeof challenge?.challenge !== 'string' || typeof challenge.expires_at !== 'number')
    throw new CloudApiError(200, 'bad_response', `${client.baseUrl} answered the challenge request oddly`);
  let signature: Uint8Array;
  try {
    signature = signSignIn(account, {
      origin: signInOrigin(client.baseUrl),
      did,
      challenge: challenge.challenge,
      expiresAt: challenge.expires_at,
    });
  } catch (err) {
    // signInMessage refuses fields outside its grammar: the server sent something odd.
    throw new CloudApiError(
      200,
      'bad_response',
      `cannot sign the sign-in challenge: ${(err as Error).message}`,
    );
  }
  const grant = await client.json<SessionGrant>('POST', '/v1/auth/session', {
    json: {
      did,
      challenge: challenge.challenge,
      public_key: b64url(account.publicKey),
      signature: b64url(signature),
    },
    auth: false,
  });
  if (typeof grant?.token !== 'string' || typeof grant.expires_at !== 'number')
    throw new CloudApiError(200, 'bad_response', `${client.baseUrl} answered the sign-in oddly`);
  return { token: grant.token, expires_at: grant.expires_at };
}
