import { Type, type Static } from '@sinclair/typebox';
import { TIERS } from '../config/tiers.js';

/**
 * TypeBox schemas of the gateway's JSON inputs. Validation is strict (unknown fields are errors,
 * no coercion). Byte strings are base64url without padding.
 */

const Base64url = (description: string, maxLength: number): ReturnType<typeof Type.String> =>
  Type.String({ minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]+$', description });

// A signed transaction is at most 64 KiB: 87,382 base64url characters.
const Transaction = Base64url('base64url of encodeSignedTransaction(...)', 87_382);

/** A DID is checked (checksum and all) by the route; the schema only bounds it. */
const Did = Type.String({ minLength: 1, maxLength: 128, description: 'did:self:…' });

export const NoQuery = Type.Object({}, { additionalProperties: false });

export const SignupBody = Type.Object(
  {
    tier: Type.Union(TIERS.map((t) => Type.Literal(t))),
    mode: Type.Optional(Type.Union([Type.Literal('always-on'), Type.Literal('sovereign')])),
    transaction: Transaction,
    quota_bytes: Type.Optional(Type.Integer({ minimum: 1, description: 'enterprise only' })),
  },
  { additionalProperties: false },
);
export type SignupBody = Static<typeof SignupBody>;

export const ChallengeBody = Type.Object({ did: Did }, { additionalProperties: false });
export type ChallengeBody = Static<typeof ChallengeBody>;

export const SessionBody = Type.Object(
  {
    did: Did,
    challenge: Type.String({ minLength: 16, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' }),
    // A hybrid account key is 1,985 bytes (2,647 characters), its signature 3,374 (4,499).
    public_key: Base64url('the account public key (encoded, scheme byte first)', 4_096),
    signature: Base64url('the account key’s signature over signInMessage(...)', 8_192),
  },
  { additionalProperties: false },
);
export type SessionBody = Static<typeof SessionBody>;

export const IdentityTxBody = Type.Object({ transaction: Transaction }, { additionalProperties: false });
export type IdentityTxBody = Static<typeof IdentityTxBody>;
