import type { FastifyReply, FastifyRequest } from 'fastify';
import { INTERNAL_ERROR, classifyError } from '../server/errors.js';
import { NoQuery } from '../server/schemas.js';
import type { Assistant } from './assistant.js';
import type { InstanceAi } from './connection.js';
import { acceptJson, openEventStream, type AiRouteDeps, type AiRoutesApp } from './http.js';
import { OpenAiApi, OpenAiHttpError, openAiErrorType, toOpenAiError } from './openai.js';
import { ChatCompletionBody, EmbeddingsBody } from './schemas.js';

/**
 * The OpenAI-compatible routes (openai.ts): `GET /v1/models`, `POST /v1/chat/completions`,
 * `POST /v1/embeddings`, in a scope whose every error, the gateway's missing identity and a
 * malformed body included, is answered in OpenAI's shape.
 */

/** Chat requests carry whole conversations; 8 MiB is far beyond any model's context. */
const OPENAI_BODY_LIMIT = 8 * 1024 * 1024;

/** The OpenAI-compatible paths: their errors, unknown methods included, are OpenAI-shaped. */
export function isOpenAiPath(url: string): boolean {
  const path = url.split('?', 1)[0] ?? '';
  return path === '/v1/models' || path === '/v1/chat/completions' || path === '/v1/embeddings';
}

interface Issue {
  path?: string;
  keyword?: string;
  params?: { missingProperty?: unknown };
}

/** `/messages/0/role` → `messages[0].role`, as OpenAI names a parameter; a missing one by its name. */
function paramOf(issue: Issue | undefined): string | null {
  const missing = issue?.keyword === 'required' ? issue.params?.missingProperty : undefined;
  const path = `${issue?.path ?? ''}${typeof missing === 'string' ? `/${missing}` : ''}`;
  const parts = path.split('/').filter((p) => p.length > 0);
  if (parts.length === 0) return null;
  return parts.reduce((out, p) => (/^\d+$/.test(p) ? `${out}[${p}]` : out === '' ? p : `${out}.${p}`), '');
}

export function registerOpenAiRoutes(
  app: AiRoutesApp,
  deps: AiRouteDeps & { assistant: Assistant; ai: InstanceAi | null; bodyLimit: number },
): void {
  const api = new OpenAiApi(deps.instance, deps.ai, deps.assistant);
  acceptJson(app);

  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    let oa = toOpenAiError(err);
    if (oa === null) {
      const classified = classifyError(err, deps.bodyLimit);
      const e = classified ?? INTERNAL_ERROR;
      if (classified === null) request.log.error({ err }, 'request failed');
      const issues = (e.details as { issues?: Issue[] }).issues;
      const code = e.code === 'too_large' ? 'request_too_large' : e.code;
      oa = new OpenAiHttpError(e.status, openAiErrorType(e.status), code, e.message, paramOf(issues?.[0]));
    } else if (oa.status >= 500) {
      request.log.warn({ code: oa.code }, 'AI request failed');
    }
    for (const [name, value] of Object.entries(oa.headers)) reply.header(name, value);
    reply.code(oa.status).type('application/json; charset=utf-8').send(oa.body());
  });

  app.get('/v1/models', { schema: { querystring: NoQuery } }, async (request) =>
    api.models(deps.actorOf(request)),
  );

  app.post(
    '/v1/chat/completions',
    { bodyLimit: OPENAI_BODY_LIMIT, schema: { body: ChatCompletionBody } },
    async (request, reply) => {
      const actor = deps.actorOf(request);
      const body = request.body;
      if (body.stream !== true) return api.completion(actor, body);
      const gone = new AbortController();
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) gone.abort();
      });
      const chunks = api.completionStream(actor, body, gone.signal);
      const first = await chunks.next(); // refusals throw here, answered as plain errors
      const sse = openEventStream(reply, () => gone.abort());
      try {
        for (let r = first; !r.done; r = await chunks.next())
          sse.write(`data: ${JSON.stringify(r.value)}\n\n`);
        sse.write('data: [DONE]\n\n');
      } catch (err) {
        // After the first chunk an error can only be an event: OpenAI clients read `error` there.
        const oa =
          toOpenAiError(err) ??
          new OpenAiHttpError(502, 'server_error', 'inference_failed', 'the stream failed');
        sse.write(`data: ${JSON.stringify(oa.body())}\n\n`);
      } finally {
        sse.end();
      }
      return reply;
    },
  );

  app.post(
    '/v1/embeddings',
    { bodyLimit: OPENAI_BODY_LIMIT, schema: { body: EmbeddingsBody } },
    async (request) => api.embeddings(deps.actorOf(request), request.body),
  );
}
