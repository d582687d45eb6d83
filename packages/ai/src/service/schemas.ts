import { Type, type Static } from '@sinclair/typebox';

/**
 * Request bodies of the OpenAI-compatible routes. Fields OpenAI clients send that this service
 * does not use are accepted and ignored (additional properties are allowed), so the official
 * clients work; fields it reads are typed strictly, and a wrong one is a 400 naming it.
 */

const TextPart = Type.Object({ type: Type.Literal('text'), text: Type.String() });

export const MessageSchema = Type.Object({
  // `developer` is what newer OpenAI clients call the system message.
  role: Type.Union([
    Type.Literal('system'),
    Type.Literal('developer'),
    Type.Literal('user'),
    Type.Literal('assistant'),
  ]),
  content: Type.Union([Type.String(), Type.Array(TextPart)]),
  name: Type.Optional(Type.String()),
});

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Optional(Type.Union([t, Type.Null()]));

export const ChatBody = Type.Object({
  model: Type.String({ minLength: 1 }),
  messages: Type.Array(MessageSchema, { minItems: 1 }),
  stream: Nullable(Type.Boolean()),
  max_tokens: Nullable(Type.Integer({ minimum: 1 })),
  max_completion_tokens: Nullable(Type.Integer({ minimum: 1 })),
  temperature: Nullable(Type.Number({ minimum: 0, maximum: 2 })),
  top_p: Nullable(Type.Number({ minimum: 0, maximum: 1 })),
  seed: Nullable(Type.Integer()),
  stop: Nullable(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 4 })])),
  /** One choice per request is all this service generates. */
  n: Nullable(Type.Literal(1)),
  stream_options: Nullable(Type.Object({ include_usage: Type.Optional(Type.Boolean()) })),
  user: Nullable(Type.String()),
});
export type ChatBody = Static<typeof ChatBody>;

export const EmbeddingsBody = Type.Object({
  model: Type.String({ minLength: 1 }),
  input: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1, maxItems: 2048 })]),
  // The official `openai` client asks for base64 unless told otherwise.
  encoding_format: Nullable(Type.Union([Type.Literal('float'), Type.Literal('base64')])),
  dimensions: Nullable(Type.Integer({ minimum: 1 })),
  user: Nullable(Type.String()),
});
export type EmbeddingsBody = Static<typeof EmbeddingsBody>;

export const TokenizeBody = Type.Object(
  {
    model: Type.String({ minLength: 1 }),
    text: Type.Optional(Type.String()),
    messages: Type.Optional(Type.Array(MessageSchema)),
  },
  { additionalProperties: false },
);
export type TokenizeBody = Static<typeof TokenizeBody>;
