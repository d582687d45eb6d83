import { Type, type Static } from '@sinclair/typebox';
import { MAX_KEY_BYTES } from '../store/names.js';

/**
 * TypeBox schemas of every input of the instance API. Validation is strict (no coercion, unknown
 * query fields are errors), so numbers in query strings and paths are digit strings here and are
 * parsed by the routes.
 */

// ---- actor headers (set by the gateway) ------------------------------------------------------------

// W3C DID Core §3.1, the rule the audit log applies to an actor.
const DID_PATTERN =
  '^did:[a-z0-9]+:(?:(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})*:)*(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})+$';
// Printable ASCII: whether it is a JWT that verifies is the token check's (grants/tokens.ts), which
// audits what it refuses.
const TOKEN_PATTERN = '^[\\x21-\\x7e]+$';

const Did = Type.String({ maxLength: 256, pattern: DID_PATTERN });
// The headers apps were once named by: the instance no longer takes an app's word for who it is
// or what it may do, so a request that still carries them is refused rather than half-read.
const Retired = {
  'x-self-app': Type.Optional(Type.Never()),
  'x-self-scopes': Type.Optional(Type.Never()),
};

export const PersonActorHeaders = Type.Object({
  'x-self-actor': Type.Literal('person'),
  'x-self-did': Did,
  // A person request carrying an app token is ambiguous: refused, never guessed.
  'x-self-token': Type.Optional(Type.Never()),
  ...Retired,
});

export const AppActorHeaders = Type.Object({
  'x-self-actor': Type.Literal('app'),
  'x-self-did': Did,
  /** The app's access token (a JWT the cloud signed), verified by the instance itself. */
  'x-self-token': Type.String({ minLength: 1, maxLength: 8192, pattern: TOKEN_PATTERN }),
  ...Retired,
});

export const ActorHeaders = Type.Union([PersonActorHeaders, AppActorHeaders]);
export type ActorHeaders = Static<typeof ActorHeaders>;

// ---- data routes --------------------------------------------------------------------------------

// names.ts COLLECTION_RE.
const Collection = Type.String({
  pattern: '^[a-z][a-z0-9_-]{0,31}$',
  description: 'a collection name: 1 to 32 characters of a-z, 0-9, "_" and "-", starting with a letter',
});
/** A key is at most MAX_KEY_BYTES bytes of UTF-8, so never more characters; the store checks the rest. */
const Key = Type.String({
  minLength: 1,
  maxLength: MAX_KEY_BYTES,
  description: 'the object key, percent-encoded',
});
const Target = Type.Union([Type.Literal('own'), Type.Literal('person')], {
  description:
    "own (default): the caller's namespace; person: the person's collections (apps need the collection's scope)",
});

/** 1 to 1000, as digits. */
const Limit = Type.String({ pattern: '^(?:[1-9][0-9]{0,2}|1000)$', description: '1 to 1000' });

export const CollectionParams = Type.Object({ collection: Collection }, { additionalProperties: false });
export const ObjectParams = Type.Object(
  { collection: Collection, key: Key },
  { additionalProperties: false },
);
export const TargetQuery = Type.Object({ target: Type.Optional(Target) }, { additionalProperties: false });

export const ListQuery = Type.Object(
  {
    prefix: Type.Optional(Type.String({ maxLength: MAX_KEY_BYTES })),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    target: Type.Optional(Target),
  },
  { additionalProperties: false },
);

// A strong etag: 64 lowercase hex digits, quoted as in an ETag header (or bare).
export const PutHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ pattern: '^(?:"[0-9a-f]{64}"|[0-9a-f]{64})$' })),
});

export const NoQuery = Type.Object({}, { additionalProperties: false });

// ---- audit routes -------------------------------------------------------------------------------

const Seq = Type.String({ pattern: '^[1-9][0-9]{0,14}$' });

export const AuditQuery = Type.Object(
  {
    from: Type.Optional(Seq),
    limit: Type.Optional(Limit),
  },
  { additionalProperties: false },
);

export const SeqParams = Type.Object({ seq: Seq }, { additionalProperties: false });
