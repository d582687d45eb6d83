import { consentMessage, equalBytes } from '@self/crypto';
import type { Actor, Instance } from '../instance.js';
import { checkConsent, type ConsentSubmission } from './consent.js';
import { GrantError } from './errors.js';
import { consentFieldsOf, type GrantRecord } from './store.js';

/**
 * The audited grant operations behind the routes. Each is one Instance.action: its entry (`ok`,
 * `error` with the code, or `denied`) is in the log whatever happens, a forged consent included.
 */

const object = (id: string): string => `grants/${id}`;

/**
 * Stores the grant of a verified consent (person only; audited `grant.create`). The same grant
 * submitted again with the same statement is answered as stored (`created: false`); another
 * statement under an existing id is GrantError('grant_conflict'): a grant is never rewritten.
 */
export function createGrant(
  instance: Instance,
  actor: Actor,
  submission: ConsentSubmission,
  now: number,
): { grant: GrantRecord; created: boolean } {
  const ticket = instance.action(actor, {
    action: 'grant.create',
    scope: 'grants:write',
    object: object(submission.consent.grant),
    apps: 'none',
  });
  let checked;
  try {
    checked = checkConsent(instance.did, submission, now);
  } catch (err) {
    ticket.fail(err);
    throw err;
  }
  const { fields, publicKey, signature } = checked;
  const store = instance.grants();
  return ticket.ok(() => {
    const existing = store.get(fields.grant);
    if (existing !== null) {
      const same = equalBytes(
        consentMessage(consentFieldsOf(instance.did, existing)),
        consentMessage(fields),
      );
      if (!same) {
        throw new GrantError(
          'grant_conflict',
          `grant ${fields.grant} exists with another consent statement`,
          {
            grant: fields.grant,
          },
        );
      }
      return { grant: existing, created: false };
    }
    const grant = store.insert({
      id: fields.grant,
      appId: fields.app,
      scopes: fields.scopes,
      origin: fields.origin,
      issuedAt: fields.issuedAt,
      expiresAt: fields.expiresAt,
      publicKey,
      signature,
    });
    return { grant, created: true };
  });
}

function notFound(id: string): GrantError {
  return new GrantError('not_found', `there is no grant ${id}`, { grant: id });
}

/**
 * Revokes a grant: the person any of theirs, an app only the grant its token was issued under
 * (revoked_by `app`). Idempotent: revoking again answers the grant as revoked the first time.
 * Audited `grant.revoke`.
 */
export function revokeGrant(instance: Instance, actor: Actor, id: string): GrantRecord {
  const byApp = actor.kind === 'app';
  const ticket = instance.action(actor, {
    action: 'grant.revoke',
    scope: 'grants:write',
    object: object(id),
    apps: byApp && actor.grantId === id ? 'any' : 'none',
  });
  return ticket.ok(() => {
    const grant = instance.grants().revoke(id, byApp ? 'app' : 'person');
    if (grant === null) throw notFound(id);
    return grant;
  });
}

/** The grant an app's token was issued under (audited `grant.read`); apps only. */
export function ownGrant(instance: Instance, actor: Actor): GrantRecord {
  const id = actor.kind === 'app' ? actor.grantId : undefined;
  const ticket = instance.action(
    actor,
    { action: 'grant.read', scope: 'grants:read', object: object(id ?? '-'), apps: id ? 'any' : 'none' },
    'this route answers an app about its own grant; the person lists grants with GET /v1/grants',
  );
  return ticket.ok(() => {
    const grant = id === undefined ? null : instance.grants().get(id);
    if (grant === null) throw notFound(id ?? '-');
    return grant;
  });
}
