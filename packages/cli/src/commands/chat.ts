import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { PersonContext, step } from '../device/index.js';
import { readSse } from '../device/sse.js';
import { addServerOption } from './signup.js';
import { wantsJson } from './status.js';

/** A thread as the instance lists it (docs/instance-api.md, the AI section). */
export interface ThreadSummary {
  id: string;
  title: string | null;
  created_at: number;
  updated_at: number;
  message_count: number;
}

interface Source {
  n: number;
  collection: string;
  key: string;
  snippet?: string;
}

/** What one reply came to, for the caller to print or to report as an error. */
export interface ReplyOutcome {
  threadId: string;
  text: string;
  complete: boolean;
  error: { error: string; message: string } | null;
}

const AI_HINTS = {
  ai_unavailable:
    'this cloud has no AI model running; its operator can start one with `self up --model <file.gguf>` (see `self ai pull`)',
  ai_budget_exhausted:
    "this month's AI budget is spent; it renews on the 1st (UTC), or move to a larger tier",
  prompt_too_large: 'the message is longer than the model can read at once; split it',
  not_found: '`self chat --threads` lists your threads',
  model_not_found: '`self ai models` lists the models of your tier',
};

const CHAT_TIMEOUT_MS = 300_000;

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

export async function createThread(ctx: PersonContext, title?: string): Promise<ThreadSummary> {
  const created = await ctx.call(
    (c) =>
      c.json<{ thread: ThreadSummary }>('POST', ctx.instance('/v1/ai/threads'), {
        json: title === undefined ? {} : { title },
      }),
    AI_HINTS,
  );
  return created.thread;
}

export async function listThreads(ctx: PersonContext): Promise<ThreadSummary[]> {
  const page = await ctx.call(
    (c) =>
      c.json<{ threads: ThreadSummary[] }>('GET', ctx.instance('/v1/ai/threads'), { query: { limit: 50 } }),
    AI_HINTS,
  );
  return page.threads;
}

/**
 * Sends one message and streams the reply: text to `out` as it arrives, notes (context handling,
 * sources, memory) to stderr. `signal` stops the reply early; what arrived is kept by the instance,
 * marked incomplete.
 */
export async function sendMessage(
  ctx: PersonContext,
  threadId: string,
  content: string,
  opts: { model?: string; json: boolean; out: NodeJS.WritableStream; signal?: AbortSignal },
): Promise<ReplyOutcome> {
  const outcome: ReplyOutcome = { threadId, text: '', complete: false, error: null };
  const res = await ctx.call(
    (c) =>
      c.request('POST', ctx.instance(`/v1/ai/threads/${encodeURIComponent(threadId)}/messages`), {
        json: { content, ...(opts.model === undefined ? {} : { model: opts.model }) },
        headers: { accept: 'text/event-stream' },
        timeoutMs: CHAT_TIMEOUT_MS,
      }),
    AI_HINTS,
  );
  const stop = (): void => {
    res.body.destroy();
  };
  opts.signal?.addEventListener('abort', stop, { once: true });
  let sources: Source[] = [];
  try {
    for await (const ev of readSse(res.body)) {
      const data = obj(ev.data);
      if (opts.json) opts.out.write(`${JSON.stringify({ event: ev.event, ...data })}\n`);
      switch (ev.event) {
        case 'delta':
          if (typeof data.content === 'string') {
            outcome.text += data.content;
            if (!opts.json) opts.out.write(data.content);
          }
          break;
        case 'context':
          if (!opts.json && data.mode !== 'full' && typeof data.note === 'string') step(`note: ${data.note}`);
          break;
        case 'citations':
          sources = Array.isArray(data.sources) ? (data.sources as Source[]) : [];
          break;
        case 'memory':
          if (!opts.json && Array.isArray(data.items))
            for (const item of data.items)
              step(`saved to memory: ${String(obj(item).content)}  (\`self memory ls\` to review)`);
          break;
        case 'done':
          outcome.complete = true;
          break;
        case 'error':
          outcome.error = {
            error: typeof data.error === 'string' ? data.error : 'error',
            message: typeof data.message === 'string' ? data.message : 'the reply failed',
          };
          break;
      }
    }
  } catch (err) {
    if (!opts.signal?.aborted) throw err;
  } finally {
    opts.signal?.removeEventListener('abort', stop);
  }
  if (!opts.json) {
    if (outcome.text !== '' && !outcome.text.endsWith('\n')) opts.out.write('\n');
    if (sources.length > 0 && outcome.complete)
      step(`sources: ${sources.map((s) => `[${s.n}] ${s.collection}/${s.key}`).join('  ')}`);
  }
  return outcome;
}

function failure(outcome: ReplyOutcome): CliError {
  const e = outcome.error!;
  const hint = (AI_HINTS as Record<string, string>)[e.error];
  const kept = outcome.text === '' ? '' : ' (what arrived is kept in the thread, marked incomplete)';
  return new CliError(`the reply failed: ${e.message} (${e.error})${kept}${hint ? `\n  hint: ${hint}` : ''}`);
}

async function resolveThread(
  ctx: PersonContext,
  opts: { thread?: string; continue?: boolean },
  firstMessage: string | undefined,
): Promise<string> {
  if (opts.thread !== undefined) return opts.thread;
  if (opts.continue === true) {
    const [latest] = await listThreads(ctx);
    if (latest !== undefined) return latest.id;
  }
  const title = firstMessage === undefined ? undefined : firstMessage.slice(0, 80);
  return (await createThread(ctx, title)).id;
}

function printThreads(threads: ThreadSummary[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ threads }));
    return;
  }
  if (threads.length === 0) {
    step('no threads yet: `self chat "hello"` starts one');
    return;
  }
  for (const t of threads)
    console.log(
      `${t.id}  ${new Date(t.updated_at).toISOString()}  ${t.message_count} messages  ${t.title ?? '(untitled)'}`,
    );
}

const INTERACTIVE_HELP =
  'type a message and press Enter. /new starts a new thread, /threads lists them, /thread <id> switches, ' +
  '/exit (or Ctrl-D) leaves. Ctrl-C stops a reply that is streaming.';

async function interactive(
  ctx: PersonContext,
  opts: { thread?: string; continue?: boolean; model?: string },
): Promise<void> {
  let threadId = await resolveThread(ctx, opts, undefined);
  step(`chatting in thread ${threadId}. ${INTERACTIVE_HELP}`);
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
  let streaming: AbortController | null = null;
  rl.on('SIGINT', () => {
    if (streaming !== null) streaming.abort();
    else rl.close();
  });
  rl.setPrompt('you> ');
  rl.prompt();
  for await (const raw of rl) {
    const line = raw.trim();
    if (line === '') {
      rl.prompt();
      continue;
    }
    if (line === '/exit' || line === '/quit') break;
    if (line === '/help') step(INTERACTIVE_HELP);
    else if (line === '/new') {
      threadId = (await createThread(ctx)).id;
      step(`new thread ${threadId}`);
    } else if (line === '/threads') printThreads(await listThreads(ctx), false);
    else if (line.startsWith('/thread ')) {
      threadId = line.slice('/thread '.length).trim();
      step(`switched to thread ${threadId}`);
    } else {
      streaming = new AbortController();
      process.stdout.write('ai> ');
      try {
        const outcome = await sendMessage(ctx, threadId, line, {
          ...(opts.model === undefined ? {} : { model: opts.model }),
          json: false,
          out: process.stdout,
          signal: streaming.signal,
        });
        if (streaming.signal.aborted) step('(stopped; the partial reply is kept, marked incomplete)');
        else if (outcome.error !== null) step(failure(outcome).message);
      } catch (err) {
        step(err instanceof Error ? err.message : String(err));
      } finally {
        streaming = null;
      }
    }
    rl.prompt();
  }
  rl.close();
}

export function registerChat(program: Command): void {
  addServerOption(
    program
      .command('chat [message...]')
      .description(
        'chat with your private AI. With a message: send it, stream the reply, exit. Without: an ' +
          'interactive chat in the terminal. Threads, memory and cited sources live in your instance.',
      )
      .option('--thread <id>', 'continue this thread (default: a new one)')
      .option('--continue', 'continue your most recent thread')
      .option('--threads', 'list your threads and exit')
      .option('--model <id>', 'a model of your tier (`self ai models`); default: the tier’s own'),
  ).action(
    async (
      words: string[],
      opts: { thread?: string; continue?: boolean; threads?: boolean; model?: string; server?: string },
    ) => {
      const json = wantsJson(program);
      const ctx = PersonContext.open({ server: opts.server });
      if (opts.threads === true) return printThreads(await listThreads(ctx), json);
      const message = words.join(' ').trim();
      if (message === '') {
        if (json) throw new CliError('--json needs a message: self chat --json "your message"', 2);
        return interactive(ctx, opts);
      }
      const threadId = await resolveThread(ctx, opts, message);
      const outcome = await sendMessage(ctx, threadId, message, {
        ...(opts.model === undefined ? {} : { model: opts.model }),
        json,
        out: process.stdout,
      });
      if (outcome.error !== null) throw failure(outcome);
      if (!json) step(`(thread ${threadId}: \`self chat --thread ${threadId}\` continues it)`);
    },
  );
}
