import type { FastifyReply } from 'fastify';
import { InstanceApiError, type InstanceApiErrorCode } from '../server/errors.js';
import type { Assistant } from './assistant.js';
import { sseFrame, type AssistantEvent } from './events.js';
import {
  acceptJson,
  auditedAi,
  openEventStream,
  wantsEventStream,
  type AiRouteDeps,
  type AiRoutesApp,
} from './http.js';
import { memoryJson, messageJson, threadJson } from './json.js';
import { NoQuery } from '../server/schemas.js';
import {
  CreateThreadBody,
  MemoryBody,
  MemoryParams,
  SendMessageBody,
  ThreadListQuery,
  ThreadParams,
  ThreadReadQuery,
  UpdateThreadBody,
} from './schemas.js';

/**
 * The person's chat API (docs/instance-api.md, "The assistant"), for the web app and the CLI:
 * status, threads and their messages, sending a message (a stream of server-sent events, or one JSON
 * body), memory items, usage. The person only: an app is refused (403, audited `denied`) until
 * scoped app tokens carry `ai:chat` / `ai:memory`. Every call is one audited AI access.
 */

/** The largest JSON body of these routes: a 256 KiB message, escaped. */
const AI_BODY_LIMIT = 2 * 1024 * 1024;

const threadObject = (id: string): string => `ai/threads/${id}`;

/** The HTTP status of an `error` event, when the reply is answered as one JSON body. */
const EVENT_ERROR_STATUS: Readonly<Record<string, [number, InstanceApiErrorCode]>> = {
  ai_unavailable: [503, 'ai_unavailable'],
  inference_timeout: [504, 'inference_timeout'],
  prompt_too_large: [400, 'prompt_too_large'],
  model_not_found: [404, 'model_not_found'],
};

export function registerAssistantRoutes(
  app: AiRoutesApp,
  deps: AiRouteDeps & { assistant: Assistant },
): void {
  const { assistant } = deps;
  acceptJson(app);

  app.get('/v1/ai/status', { schema: { querystring: NoQuery } }, async (request) => {
    const ticket = deps.instance.aiAction(deps.actorOf(request), {
      action: 'ai.status',
      scope: 'ai:chat',
      object: 'ai/status',
      apps: false,
    });
    const status = await assistant.status();
    return ticket.ok(() => status);
  });

  app.get('/v1/ai/usage', { schema: { querystring: NoQuery } }, async (request) =>
    auditedAi(
      deps,
      request,
      { action: 'ai.usage', scope: 'ai:chat', object: 'ai/usage', apps: false },
      (state) => ({
        ...state.usage.current(),
        budget: assistant.budget(),
        history: state.usage.history(),
      }),
    ),
  );

  // ---- threads ----------------------------------------------------------------------------------

  app.get('/v1/ai/threads', { schema: { querystring: ThreadListQuery } }, async (request) => {
    const q = request.query;
    return auditedAi(
      deps,
      request,
      { action: 'ai.thread.list', scope: 'ai:chat', object: 'ai/threads', apps: false },
      (state) => {
        const page = state.threads.list({
          ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
          ...(q.before !== undefined ? { before: q.before } : {}),
        });
        return { threads: page.threads.map(threadJson), cursor: page.cursor };
      },
    );
  });

  app.post(
    '/v1/ai/threads',
    {
      bodyLimit: AI_BODY_LIMIT,
      schema: { querystring: NoQuery, body: CreateThreadBody },
      // A thread needs nothing to start: no body at all is an empty one.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      const title = request.body?.title ?? null;
      const thread = auditedAi(
        deps,
        request,
        { action: 'ai.thread.create', scope: 'ai:chat', object: 'ai/threads', apps: false },
        (state) => state.threads.create(title),
      );
      reply.code(201);
      return { thread: threadJson(thread) };
    },
  );

  // GET: the thread and one page of its messages, newest page first, in chronological order.
  app.get(
    '/v1/ai/threads/:id',
    { schema: { params: ThreadParams, querystring: ThreadReadQuery } },
    async (request) => {
      const { id } = request.params;
      const q = request.query;
      return auditedAi(
        deps,
        request,
        { action: 'ai.thread.read', scope: 'ai:chat', object: threadObject(id), apps: false },
        (state) => {
          const thread = state.threads.require(id);
          const page = state.threads.page(id, {
            ...(q.before !== undefined ? { before: Number(q.before) } : {}),
            ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
          });
          return {
            thread: threadJson(thread),
            messages: page.messages.map(messageJson),
            has_more: page.hasMore,
          };
        },
      );
    },
  );

  app.patch(
    '/v1/ai/threads/:id',
    {
      bodyLimit: AI_BODY_LIMIT,
      schema: { params: ThreadParams, querystring: NoQuery, body: UpdateThreadBody },
    },
    async (request) => {
      const { id } = request.params;
      const thread = auditedAi(
        deps,
        request,
        { action: 'ai.thread.update', scope: 'ai:chat', object: threadObject(id), apps: false },
        (state) => state.threads.setTitle(id, request.body.title),
      );
      return { thread: threadJson(thread) };
    },
  );

  app.delete(
    '/v1/ai/threads/:id',
    { schema: { params: ThreadParams, querystring: NoQuery } },
    async (request, reply) => {
      const { id } = request.params;
      auditedAi(
        deps,
        request,
        { action: 'ai.thread.delete', scope: 'ai:chat', object: threadObject(id), apps: false },
        (state) => state.threads.delete(id),
      );
      reply.code(204);
      return reply.send();
    },
  );

  // POST …/messages: the reply as server-sent events when the client accepts text/event-stream,
  // else one JSON body once it is complete. Refusals are plain error responses either way.
  app.post(
    '/v1/ai/threads/:id/messages',
    {
      bodyLimit: AI_BODY_LIMIT,
      schema: { params: ThreadParams, querystring: NoQuery, body: SendMessageBody },
    },
    async (request, reply) => {
      const { id } = request.params;
      const body = request.body;
      const gone = new AbortController();
      // The client going away before the reply is complete stops the generation.
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) gone.abort();
      });
      const events = assistant.send(deps.actorOf(request), id, body.content, {
        ...(body.model !== undefined ? { model: body.model } : {}),
        ...(body.max_tokens !== undefined ? { maxTokens: body.max_tokens } : {}),
        signal: gone.signal,
      });
      const first = await events.next(); // refusals throw here, before any byte is sent
      if (wantsEventStream(request)) return streamEvents(reply, first, events, gone);
      return collectReply(first, events);
    },
  );

  // ---- memory -----------------------------------------------------------------------------------

  app.get('/v1/ai/memory', { schema: { querystring: NoQuery } }, async (request) =>
    auditedAi(
      deps,
      request,
      { action: 'ai.memory.list', scope: 'ai:memory', object: 'ai/memory', apps: false },
      (state) => ({ items: state.memory.list().map(memoryJson) }),
    ),
  );

  app.post(
    '/v1/ai/memory',
    { bodyLimit: AI_BODY_LIMIT, schema: { querystring: NoQuery, body: MemoryBody } },
    async (request, reply) => {
      const result = auditedAi(
        deps,
        request,
        { action: 'ai.memory.create', scope: 'ai:memory', object: 'ai/memory', apps: false },
        (state) => state.memory.create(request.body.content),
      );
      reply.code(result.created ? 201 : 200);
      return { item: memoryJson(result.item), created: result.created };
    },
  );

  app.patch(
    '/v1/ai/memory/:id',
    { bodyLimit: AI_BODY_LIMIT, schema: { params: MemoryParams, querystring: NoQuery, body: MemoryBody } },
    async (request) => {
      const id = Number(request.params.id);
      const item = auditedAi(
        deps,
        request,
        { action: 'ai.memory.update', scope: 'ai:memory', object: `ai/memory/${id}`, apps: false },
        (state) => state.memory.update(id, request.body.content),
      );
      return { item: memoryJson(item) };
    },
  );

  app.delete(
    '/v1/ai/memory/:id',
    { schema: { params: MemoryParams, querystring: NoQuery } },
    async (request, reply) => {
      const id = Number(request.params.id);
      auditedAi(
        deps,
        request,
        { action: 'ai.memory.delete', scope: 'ai:memory', object: `ai/memory/${id}`, apps: false },
        (state) => state.memory.delete(id),
      );
      reply.code(204);
      return reply.send();
    },
  );
}

async function streamEvents(
  reply: FastifyReply,
  first: IteratorResult<AssistantEvent>,
  events: AsyncGenerator<AssistantEvent, void, undefined>,
  gone: AbortController,
): Promise<FastifyReply> {
  const sse = openEventStream(reply, () => gone.abort());
  try {
    for (let r = first; !r.done; r = await events.next()) sse.write(sseFrame(r.value));
  } finally {
    sse.end();
  }
  return reply;
}

/** The whole reply as one JSON body; an `error` event becomes an error response naming the partial reply. */
async function collectReply(
  first: IteratorResult<AssistantEvent>,
  events: AsyncGenerator<AssistantEvent, void, undefined>,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { content: '' };
  let content = '';
  for (let r = first; !r.done; r = await events.next()) {
    const e = r.value;
    switch (e.type) {
      case 'start':
        Object.assign(out, { thread_id: e.thread_id, model: e.model, user_message: e.user_message });
        break;
      case 'context': {
        const { type: _type, ...report } = e;
        out.context = report;
        break;
      }
      case 'citations':
        out.citations = e.sources;
        break;
      case 'delta':
        content += e.content;
        break;
      case 'memory':
        out.memory = e.items;
        break;
      case 'done':
        Object.assign(out, { message: e.message, usage: e.usage, budget: e.budget });
        break;
      case 'error': {
        const [status, code] = EVENT_ERROR_STATUS[e.error] ?? [502, 'inference_failed'];
        throw new InstanceApiError(status, code, e.message, {
          reason: e.error,
          thread_id: out.thread_id ?? null,
          partial_message_id: e.partial_message_id,
        });
      }
    }
  }
  out.memory ??= [];
  out.content = content;
  return out;
}
