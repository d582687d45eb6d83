/**
 * `npm run bench -- ai [--tokens 64] [--runs 3] [--people 4] [--threads 1] [--model FILE]
 *   [--skip-thread]`
 *
 * Speed of the private AI through the whole SELF path, against node-llama-cpp called directly in
 * the same run, with a model of realistic size (the project's GGUF script, random Q8_0 weights:
 * speed only, never quality).
 *
 * 1. raw: node-llama-cpp in this process, LlamaChat on its own context, greedy, `--tokens` tokens.
 * 2. path: `self up` (one validator, the gateway, the instance manager, the inference service as
 *    its own process) and one signed-up person; the same request through the gateway to the
 *    person's instance and on to the service: the OpenAI-compatible route (same prompt as raw:
 *    path_over_raw = decode tokens/s ratio, ttft_overhead_ms = time-to-first-token difference) and
 *    the assistant's chat route (stores the messages, retrieval, memory, context planning).
 *    Raw and path runs alternate; each figure is the median of `--runs`.
 * 3. concurrent: `--people` people stream at once through the gateway; aggregate tokens/s.
 * 4. reload: a 400K-token thread (2,000 messages) written into the person's stopped instance, then
 *    opened through the gateway: cold (the instance process starts) and warm, and read whole.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RANDOM_MODEL_SMALL, writeRandomModel } from '@self/ai';
import { instanceIdFor } from '@self/cloud';
import { Instance } from '@self/instance';
import { fromHex } from '@self/crypto';
import { median, round } from './lib/timing.js';

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= 'true';

const { values: args } = parseArgs({
  options: {
    tokens: { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    people: { type: 'string', default: '4' },
    threads: { type: 'string', default: '1' },
    model: { type: 'string' },
    'skip-thread': { type: 'boolean', default: false },
  },
});
const TOKENS = Number(args.tokens);
const RUNS = Number(args.runs);
const PEOPLE = Number(args.people);
const THREADS = Number(args.threads);
const BIN = fileURLToPath(new URL('../../packages/cli/bin/self.js', import.meta.url));
const CACHE = fileURLToPath(new URL('../../node_modules/.cache/self-ai/', import.meta.url));
const PROMPT = 'Write a long story about a lighthouse keeper who finds a message in a bottle.';
const PASS = 'bench passphrase, long enough';

// ---- the model ---------------------------------------------------------------------------------
let modelPath = args.model ?? join(CACHE, 'bench-random-small-v2.gguf');
if (args.model === undefined && !existsSync(modelPath)) {
  mkdirSync(CACHE, { recursive: true });
  console.log('writing the benchmark model (random Q8_0 weights, ~0.3B parameters)…');
  await writeRandomModel(modelPath, RANDOM_MODEL_SMALL);
}
modelPath = modelPath.toString();
const modelBytes = statSync(modelPath).size;
const p = RANDOM_MODEL_SMALL;
// Known only for the model this script writes; a model given with --model is described by its size.
const params =
  args.model === undefined
    ? p.vocab * p.embd * 2 + p.layers * (4 * p.embd * p.embd + 3 * p.embd * p.ff)
    : null;
console.log(
  `model: ${modelPath} (${round(modelBytes / 2 ** 20)} MiB${params === null ? '' : `, ~${round(params / 1e6)} M parameters`})`,
);

// ---- self up and a person ----------------------------------------------------------------------
const root = mkdtempSync(join(tmpdir(), 'self-bench-ai-'));
const dataDir = join(root, 'data');
let up: ChildProcess | null = null;
let upLog = '';

async function startUp(): Promise<string> {
  const proc = spawn(
    process.execPath,
    [
      BIN,
      '--json',
      'up',
      '--data',
      dataDir,
      '--port',
      '0',
      '--validators',
      '1',
      '--no-rate-limit',
      '--model',
      modelPath,
      '--allow-test-model',
      '--ai-threads',
      String(THREADS),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SELF_LOG_LEVEL: 'warn' } },
  );
  up = proc;
  proc.stderr!.on('data', (c: Buffer) => (upLog = (upLog + c.toString('utf8')).slice(-8000)));
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.includes('"event":"ready"')) resolve((JSON.parse(line) as { api_url: string }).api_url);
      }
    });
    proc.once('exit', (code) => reject(new Error(`self up exited (${code}):\n${upLog}`)));
  });
}

const url = await startUp();
console.log(`self up at ${url}`);

interface Person {
  home: string;
  did: string;
  token: string;
}

function signUp(i: number): Person {
  const home = join(root, `person-${i}`);
  const env = { ...process.env, SELF_HOME: home, SELF_PASSPHRASE: PASS, SELF_SERVER: url };
  const r = spawnSync(process.execPath, [BIN, '--json', 'signup', '--tier', 'pro'], { env, input: '' });
  if (r.status !== 0) throw new Error(`signup failed: ${r.stderr.toString()}`);
  const session = JSON.parse(readFileSync(join(home, 'session.json'), 'utf8')) as {
    token: string;
    did: string;
  };
  return { home, did: session.did, token: session.token };
}

const people: Person[] = [];
for (let i = 0; i < Math.max(1, PEOPLE); i++) people.push(signUp(i));
console.log(`${people.length} people signed up`);

// ---- streaming through the gateway -------------------------------------------------------------
interface StreamRun {
  ttftMs: number;
  tokens: number;
  decodeTokensPerS: number;
}

async function* sseEvents(res: Response): AsyncGenerator<{ event: string; data: string }> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      yield { event, data: data.join('\n') };
    }
  }
}

async function post(
  person: Person,
  path: string,
  body: unknown,
  accept = 'application/json',
): Promise<Response> {
  const res = await fetch(`${url}/v1/i/${person.did}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${person.token}`, 'content-type': 'application/json', accept },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res;
}

let modelId = '';
async function openAiRun(person: Person): Promise<StreamRun> {
  const t0 = performance.now();
  const res = await post(person, '/chat/completions', {
    model: modelId,
    messages: [{ role: 'user', content: PROMPT }],
    stream: true,
    max_tokens: TOKENS,
    temperature: 0,
  });
  let first = 0;
  let last = 0;
  let tokens = 0;
  for await (const ev of sseEvents(res)) {
    if (ev.data === '[DONE]') break;
    const chunk = JSON.parse(ev.data) as {
      choices?: Array<{ delta?: { content?: string } }>;
      usage?: { completion_tokens: number } | null;
      error?: { message: string };
    };
    if (chunk.error) throw new Error(chunk.error.message);
    if (chunk.choices?.[0]?.delta?.content) {
      last = performance.now();
      if (first === 0) first = last;
    }
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  return { ttftMs: first - t0, tokens, decodeTokensPerS: (tokens - 1) / ((last - first) / 1000) };
}

async function assistantRun(person: Person, threadId: string): Promise<StreamRun> {
  const t0 = performance.now();
  const res = await post(
    person,
    `/ai/threads/${threadId}/messages`,
    { content: PROMPT, max_tokens: TOKENS },
    'text/event-stream',
  );
  let first = 0;
  let last = 0;
  let tokens = 0;
  for await (const ev of sseEvents(res)) {
    if (ev.event === 'delta') {
      last = performance.now();
      if (first === 0) first = last;
    } else if (ev.event === 'done') {
      tokens = (JSON.parse(ev.data) as { usage: { completion_tokens: number } }).usage.completion_tokens;
    } else if (ev.event === 'error') throw new Error(ev.data);
  }
  return { ttftMs: first - t0, tokens, decodeTokensPerS: (tokens - 1) / ((last - first) / 1000) };
}

// ---- raw node-llama-cpp ------------------------------------------------------------------------
const { getLlama, LlamaChat, LlamaLogLevel } = await import('node-llama-cpp');
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const rawModel = await llama.loadModel({ modelPath });
const rawContext = await rawModel.createContext({
  contextSize: Math.min(rawModel.trainContextSize, 8192),
  threads: THREADS,
});

async function rawRun(): Promise<StreamRun> {
  const sequence = rawContext.getSequence();
  const chat = new LlamaChat({ contextSequence: sequence });
  const t0 = performance.now();
  let first = 0;
  let last = 0;
  let tokens = 0;
  await chat.generateResponse([{ type: 'user', text: PROMPT }], {
    maxTokens: TOKENS,
    temperature: 0,
    onToken: (t) => {
      last = performance.now();
      if (first === 0) first = last;
      tokens += t.length;
    },
  });
  chat.dispose();
  sequence.dispose();
  return { ttftMs: first - t0, tokens, decodeTokensPerS: (tokens - 1) / ((last - first) / 1000) };
}

const models = (await (
  await fetch(`${url}/v1/i/${people[0]!.did}/models`, {
    headers: { authorization: `Bearer ${people[0]!.token}` },
  })
).json()) as { data: Array<{ id: string }> };
modelId = models.data[0]!.id;
const thread = (await (await post(people[0]!, '/ai/threads', { title: 'bench' })).json()) as {
  thread: { id: string };
};

// Warm-up: the service loads the model on first use; the instance starts.
await openAiRun(people[0]!);
await rawRun();

const raw: StreamRun[] = [];
const path: StreamRun[] = [];
const assistant: StreamRun[] = [];
for (let r = 0; r < RUNS; r++) {
  raw.push(await rawRun());
  path.push(await openAiRun(people[0]!));
  assistant.push(await assistantRun(people[0]!, thread.thread.id));
  const f = (s: StreamRun): string =>
    `ttft ${round(s.ttftMs)} ms, ${round(s.decodeTokensPerS)} tok/s (${s.tokens})`;
  console.log(
    `run ${r + 1}: raw ${f(raw.at(-1)!)} | path ${f(path.at(-1)!)} | assistant ${f(assistant.at(-1)!)}`,
  );
}
const med = (xs: StreamRun[], k: keyof StreamRun): number => median(xs.map((x) => x[k]));
const rawTps = med(raw, 'decodeTokensPerS');
const pathTps = med(path, 'decodeTokensPerS');
const rawTtft = med(raw, 'ttftMs');
const pathTtft = med(path, 'ttftMs');
// Ratios and differences per pair of neighbouring runs, then their median: the machine's speed
// drifts between runs more than the path costs, and a pair shares one moment's conditions.
const pathOverRaw = median(raw.map((r, i) => path[i]!.decodeTokensPerS / r.decodeTokensPerS));
const ttftOverhead = median(raw.map((r, i) => path[i]!.ttftMs - r.ttftMs));
console.log(
  `decode: raw ${round(rawTps)} tok/s, through SELF ${round(pathTps)} tok/s (path_over_raw ${round(pathOverRaw, 3)}, median of pairs)`,
);
console.log(
  `time to first token: raw ${round(rawTtft)} ms, through SELF ${round(pathTtft)} ms (+${round(ttftOverhead)} ms, median of pairs)`,
);
console.log(
  `assistant route: ttft ${round(med(assistant, 'ttftMs'))} ms, ${round(med(assistant, 'decodeTokensPerS'))} tok/s`,
);
await rawContext.dispose();
await rawModel.dispose();

// ---- concurrent people -------------------------------------------------------------------------
const t0 = performance.now();
const concurrent = await Promise.all(people.map((person) => openAiRun(person)));
const wallS = (performance.now() - t0) / 1000;
const totalTokens = concurrent.reduce((a, r) => a + r.tokens, 0);
const ttfts = concurrent.map((r) => r.ttftMs).sort((a, b) => a - b);
console.log(
  `${people.length} people at once: ${totalTokens} tokens in ${round(wallS, 2)} s = ${round(totalTokens / wallS)} tok/s ` +
    `(first token p50 ${round(median(ttfts))} ms, max ${round(ttfts.at(-1)!)} ms)`,
);

// ---- reloading a 400K-token thread -------------------------------------------------------------
let reload: Record<string, number> = {};
if (!args['skip-thread']) {
  const person = people[0]!;
  const operator = readFileSync(join(dataDir, 'cloud', 'operator.token'), 'utf8').trim();
  const stop = await fetch(`${url}/v1/admin/instances/${encodeURIComponent(person.did)}/stop`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operator}` },
  });
  if (!stop.ok) throw new Error(`stop: HTTP ${stop.status}`);
  const hostKey = fromHex(readFileSync(join(dataDir, 'cloud', 'host.key'), 'utf8').trim());
  const inst = Instance.open({ dir: join(dataDir, 'instances', instanceIdFor(person.did)), hostKey });
  const state = inst.aiState();
  const long = state.threads.create('400K tokens');
  const text = 'The keeper climbed the stairs again and watched the sea turn grey under the evening sky. ';
  const body = text.repeat(10).slice(0, 800);
  state.transaction(() => {
    for (let i = 0; i < 2000; i++)
      state.threads.addMessage(long.id, {
        role: i % 2 === 0 ? 'user' : 'assistant',
        content: `${i}: ${body}`,
        tokens: 200,
        status: 'complete',
        meta: {},
      });
  });
  inst.close();
  const get = async (
    q = '',
  ): Promise<{ ms: number; json: { messages: Array<{ id: number }>; has_more: boolean } }> => {
    const s = performance.now();
    const res = await fetch(`${url}/v1/i/${person.did}/ai/threads/${long.id}${q}`, {
      headers: { authorization: `Bearer ${person.token}` },
    });
    const json = (await res.json()) as { messages: Array<{ id: number }>; has_more: boolean };
    if (!res.ok) throw new Error(`GET thread: HTTP ${res.status} ${JSON.stringify(json)}`);
    return { ms: performance.now() - s, json };
  };
  const cold = await get();
  const warm: number[] = [];
  for (let i = 0; i < 5; i++) warm.push((await get()).ms);
  const s = performance.now();
  let page = await get('?limit=200');
  let read = page.json.messages.length;
  while (page.json.has_more) {
    page = await get(`?limit=200&before=${page.json.messages[0]!.id}`);
    read += page.json.messages.length;
  }
  const fullMs = performance.now() - s;
  reload = {
    thread_tokens: 400_000,
    thread_messages: read,
    thread_open_cold_ms: round(cold.ms),
    thread_open_warm_ms: round(median(warm)),
    thread_read_all_ms: round(fullMs),
  };
  console.log(
    `400K-token thread (${read} messages): opened cold ${round(cold.ms)} ms (instance start included), ` +
      `warm ${round(median(warm))} ms; read whole in ${round(fullMs)} ms`,
  );
}

// ---- done --------------------------------------------------------------------------------------
const closed = new Promise((resolve) => up!.once('close', resolve));
up!.kill('SIGTERM');
await closed;
rmSync(root, { recursive: true, force: true });

console.log(
  JSON.stringify({
    bench: 'ai',
    cores: availableParallelism(),
    threads: THREADS,
    model_mib: round(modelBytes / 2 ** 20),
    model_params_m: params === null ? null : round(params / 1e6),
    tokens: TOKENS,
    runs: RUNS,
    raw_tokens_per_s: round(rawTps, 2),
    path_tokens_per_s: round(pathTps, 2),
    path_over_raw: round(pathOverRaw, 3),
    raw_ttft_ms: round(rawTtft),
    path_ttft_ms: round(pathTtft),
    ttft_overhead_ms: round(ttftOverhead),
    assistant_ttft_ms: round(med(assistant, 'ttftMs')),
    assistant_tokens_per_s: round(med(assistant, 'decodeTokensPerS'), 2),
    concurrent_people: people.length,
    concurrent_tokens_per_s: round(totalTokens / wallS, 2),
    concurrent_ttft_p50_ms: round(median(ttfts)),
    concurrent_ttft_max_ms: round(ttfts.at(-1)!),
    ...reload,
  }),
);
