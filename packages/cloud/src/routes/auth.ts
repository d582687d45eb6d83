import { addressFromDid, addressFromPublicKey, isDid, isSigningPublicKey, verifySignIn } from '@self/crypto';
import { bearerToken } from '../auth/tokens.js';
import { didChainState } from '../chain/did.js';
import { chainStepFailure } from '../chain/errors.js';
import { invalidRequest, unauthenticated } from '../http/errors.js';
import { ChallengeBody, SessionBody } from '../http/schemas.js';
import type { CloudApp, CloudContext } from './context.js';

const bytes = (b64url: string): Uint8Array => new Uint8Array(Buffer.from(b64url, 'base64url'));

function checkDid(did: string): void {
  if (!isDid(did))
    throw invalidRequest('did must be a did:self identifier with a valid address', { field: 'did' });
}

/**
 * Sign-in by challenge–response (signInMessage in @self/crypto):
 *
 *   POST /v1/auth/challenge {did} → {challenge, expires_at, origin}
 *   POST /v1/auth/session {did, challenge, public_key, signature} → 201 {token, expires_at}
 *   DELETE /v1/auth/session (Authorization: Bearer) → 204
 *
 * The signature is the account key's over signInMessage({origin, did, challenge, expiresAt}), with
 * this gateway's origin and the challenge's expiry. Refusals are 401 `unauthenticated` with
 * `details.reason`: unknown_challenge (never issued, for another DID, or used: every attempt uses
 * it up), challenge_expired, wrong_key (not the DID's account key), bad_signature,
 * did_not_on_chain, did_deactivated, no_account (the DID has no active account here).
 */
export function registerAuthRoutes(app: CloudApp, ctx: CloudContext): void {
  app.post(
    '/v1/auth/challenge',
    { onRequest: [...ctx.hooks.anonymous], schema: { body: ChallengeBody } },
    async (request) => {
      const { did } = request.body as ChallengeBody;
      checkDid(did);
      const issued = ctx.challenges.issue(did);
      return { challenge: issued.challenge, expires_at: issued.expiresAt, origin: ctx.origin };
    },
  );

  app.post(
    '/v1/auth/session',
    { onRequest: [...ctx.hooks.anonymous], schema: { body: SessionBody } },
    async (request, reply) => {
      const body = request.body as SessionBody;
      checkDid(body.did);
      const refuse = (reason: string, message: string): never => {
        ctx.metrics.signin('refused');
        throw unauthenticated(message, { reason });
      };
      const issued = ctx.challenges.consume(body.challenge);
      if (!issued || issued.did !== body.did)
        refuse(
          'unknown_challenge',
          'this challenge was not issued for this DID or was already used; ask for a new one',
        );
      if (issued!.expiresAt <= ctx.now())
        refuse('challenge_expired', 'the challenge expired; ask for a new one');
      const publicKey = bytes(body.public_key);
      if (!isSigningPublicKey(publicKey) || addressFromPublicKey(publicKey) !== addressFromDid(body.did))
        refuse('wrong_key', 'public_key is not the account key of this DID');
      const fields = {
        origin: ctx.origin,
        did: body.did,
        challenge: body.challenge,
        expiresAt: issued!.expiresAt,
      };
      if (!verifySignIn(fields, publicKey, bytes(body.signature)))
        refuse('bad_signature', `the signature does not verify over the sign-in message for ${ctx.origin}`);

      let state;
      try {
        state = await didChainState(ctx.chain.client, body.did);
      } catch (err) {
        ctx.metrics.signin('failed');
        throw chainStepFailure(err, 'resolving the DID');
      }
      if (state === 'absent') refuse('did_not_on_chain', `${body.did} is not on chain`);
      if (state === 'deactivated') refuse('did_deactivated', `${body.did} is deactivated`);
      const account = ctx.accounts.get(body.did);
      if (!account || account.state !== 'active')
        refuse('no_account', `${body.did} has no active account on this cloud; sign up first`);

      const session = ctx.sessions.create(body.did);
      ctx.metrics.signin('ok');
      reply.code(201);
      return { token: session.token, expires_at: session.expiresAt };
    },
  );

  app.delete('/v1/auth/session', { onRequest: [...ctx.hooks.person] }, async (request, reply) => {
    const token = bearerToken(request.headers.authorization);
    if (token !== null) ctx.sessions.revoke(token);
    return reply.code(204).send();
  });
}
