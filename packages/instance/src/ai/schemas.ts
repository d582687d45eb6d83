import { Type, type Static } from '@sinclair/typebox';
import { MESSAGE_MAX_CHARS } from './assistant.js';
import { MEMORY_MAX_CHARS } from './memory-proposals.js';

/**
 * TypeBox schemas of the AI routes' inputs. Strict like the rest of the instance API: unknown
 * fields are errors and nothing is coerced (numbers in paths and queries are digit strings).
 */

const ThreadId = Type.String({ pattern: '^th_[0-9a-f]{24}$', description: 'a thread id (th_…)' });
const MessageId = Type.String({ pattern: '^[1-9][0-9]{0,15}$' });
const PageLimit = Type.String({ pattern: '^(?:[1-9][0-9]?|1[0-9]{2}|200)$', description: '1 to 200' });
const Title = Type.String({ minLength: 1, maxLength: 200 });

export const ThreadParams = Type.Object({ id: ThreadId }, { additionalProperties: false });
export const MemoryParams = Type.Object({ id: MessageId }, { additionalProperties: false });

export const ThreadListQuery = Type.Object(
  {
    limit: Type.Optional(PageLimit),
    before: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const ThreadReadQuery = Type.Object(
  { before: Type.Optional(MessageId), limit: Type.Optional(PageLimit) },
  { additionalProperties: false },
);

export const CreateThreadBody = Type.Object(
  { title: Type.Optional(Type.Union([Title, Type.Null()])) },
  { additionalProperties: false },
);
export type CreateThreadBody = Static<typeof CreateThreadBody>;

export const UpdateThreadBody = Type.Object(
  { title: Type.Union([Title, Type.Null()]) },
  { additionalProperties: false },
);
export type UpdateThreadBody = Static<typeof UpdateThreadBody>;

export const SendMessageBody = Type.Object(
  {
    content: Type.String({ minLength: 1, maxLength: MESSAGE_MAX_CHARS }),
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    max_tokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
);
export type SendMessageBody = Static<typeof SendMessageBody>;

export const MemoryBody = Type.Object(
  { content: Type.String({ minLength: 1, maxLength: MEMORY_MAX_CHARS }) },
  { additionalProperties: false },
);
export type MemoryBody = Static<typeof MemoryBody>;

// ---- the OpenAI-compatible routes --------------------------------------------------------------
//
// Like the inference service's own schemas: fields OpenAI clients send that SELF does not use are
// accepted and ignored (they are not passed on), fields it reads are typed strictly and may be
// null (clients send null for "default"), and a wrong one is a 400 naming it.

/** Text content, or OpenAI's array of content parts (text parts only: these models read text). */
const Content = Type.Union([
  Type.String({ maxLength: MESSAGE_MAX_CHARS }),
  Type.Array(
    Type.Object({ type: Type.Literal('text'), text: Type.String({ maxLength: MESSAGE_MAX_CHARS }) }),
    { maxItems: 64 },
  ),
]);

const OpenAiMessage = Type.Object({
  // `developer` is OpenAI's newer name for `system`.
  role: Type.Union([
    Type.Literal('system'),
    Type.Literal('developer'),
    Type.Literal('user'),
    Type.Literal('assistant'),
  ]),
  content: Content,
  name: Type.Optional(Type.String({ maxLength: 64 })),
});
export type OpenAiMessage = Static<typeof OpenAiMessage>;

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Optional(Type.Union([t, Type.Null()]));

export const ChatCompletionBody = Type.Object({
  model: Type.String({ minLength: 1, maxLength: 256 }),
  messages: Type.Array(OpenAiMessage, { minItems: 1, maxItems: 1024 }),
  stream: Nullable(Type.Boolean()),
  stream_options: Nullable(Type.Object({ include_usage: Type.Optional(Type.Boolean()) })),
  max_tokens: Nullable(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  max_completion_tokens: Nullable(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  temperature: Nullable(Type.Number({ minimum: 0, maximum: 2 })),
  top_p: Nullable(Type.Number({ minimum: 0, maximum: 1 })),
  seed: Nullable(Type.Integer()),
  stop: Nullable(
    Type.Union([
      Type.String({ maxLength: 256 }),
      Type.Array(Type.String({ maxLength: 256 }), { maxItems: 4 }),
    ]),
  ),
  // One choice is all these models make; the field is accepted because clients send n: 1.
  n: Nullable(Type.Literal(1)),
  user: Nullable(Type.String({ maxLength: 256 })),
});
export type ChatCompletionBody = Static<typeof ChatCompletionBody>;

export const EmbeddingsBody = Type.Object({
  model: Type.String({ minLength: 1, maxLength: 256 }),
  input: Type.Union([
    Type.String({ maxLength: MESSAGE_MAX_CHARS }),
    Type.Array(Type.String({ maxLength: MESSAGE_MAX_CHARS }), { minItems: 1, maxItems: 256 }),
  ]),
  // The official `openai` client asks for base64 unless told otherwise.
  encoding_format: Nullable(Type.Union([Type.Literal('float'), Type.Literal('base64')])),
  user: Nullable(Type.String({ maxLength: 256 })),
});
export type EmbeddingsBody = Static<typeof EmbeddingsBody>;
