import { Type, type Static } from '@sinclair/typebox';

/**
 * TypeBox schemas of the grant routes' inputs. They check shape and size only; the consent's
 * grammar and signature are checkConsent's (consent.ts), which says precisely what is wrong.
 */

const Millis = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
// Base64url without padding. A hybrid account key is 1985 bytes and its signature 3374: well under.
const Bytes = Type.String({ minLength: 1, maxLength: 8192, pattern: '^[A-Za-z0-9_-]+$' });

export const GrantIdParams = Type.Object(
  { id: Type.String({ pattern: '^gr_[A-Za-z0-9_-]{22}$' }) },
  { additionalProperties: false },
);

export const CreateGrantBody = Type.Object(
  {
    consent: Type.Object(
      {
        origin: Type.String({ minLength: 1, maxLength: 2048 }),
        did: Type.String({ minLength: 1, maxLength: 256 }),
        grant: Type.String({ minLength: 1, maxLength: 64 }),
        app: Type.String({ minLength: 1, maxLength: 64 }),
        scopes: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 64 }),
        issued_at: Millis,
        expires_at: Millis,
      },
      { additionalProperties: false },
    ),
    public_key: Bytes,
    signature: Bytes,
  },
  { additionalProperties: false },
);
export type CreateGrantBody = Static<typeof CreateGrantBody>;
