import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_MODEL_REPLY } from '@self/ai';
import { testModelPath } from '@self/ai/testing';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/free-port.js';

/**
 * The private AI end to end, as the "done when" reads: `self up` serving the project's test
 * model through the real llama.cpp runtime, a person who signs up, then `self chat`, memory,
 * retrieval with cited sources, history across a restart of the whole cloud, the OpenAI-compatible
 * endpoint with the official `openai` client, and `self ai pull` from a real HTTP server.
 */

const BIN = fileURLToPath(new URL('../bin/self.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'self-cli-chat-'));
const dataDir = join(root, 'data');
const home = join(root, 'home');
const PASS = 'a long and private passphrase';

interface Run {
  status: number | null;
  out: string;
  err: string;
}

function self(args: string[]): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    input: '',
    env: { ...process.env, SELF_HOME: home, SELF_PASSPHRASE: PASS, SELF_SERVER: url },
    timeout: 180_000,
  });
  return { status: r.status, out: r.stdout.toString('utf8'), err: r.stderr.toString('utf8') };
}

/** Like self(), without blocking this process: for commands that talk to a server the test runs. */
function selfAsync(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SELF_HOME: home, SELF_PASSPHRASE: PASS, SELF_SERVER: url },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, out, err }));
  });
}

function ok(r: Run): Run {
  if (r.status !== 0) throw new Error(`exit ${r.status}\nstdout: ${r.out}\nstderr: ${r.err}`);
  return r;
}

const json = <T = Record<string, unknown>>(r: Run): T => JSON.parse(ok(r).out) as T;

let up: ChildProcess | null = null;
let url = '';
/** One port for both starts: the device remembers the server it signed up with. */
let port = 0;
let upLog = '';
let modelPath = '';
let ready: { api_url: string; ai: Array<{ tier: string; model: string; state: string }> };

async function startUp(): Promise<void> {
  const args = ['--json', 'up', '--data', dataDir, '--port', String(port), '--validators', '1'];
  args.push('--model', modelPath, '--allow-test-model');
  const proc = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SELF_LOG_LEVEL: 'warn' },
  });
  up = proc;
  proc.stderr!.on('data', (c: Buffer) => {
    upLog = (upLog + c.toString('utf8')).slice(-20_000);
  });
  ready = await new Promise((resolve, reject) => {
    let buffer = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.includes('"event":"ready"')) resolve(JSON.parse(line) as typeof ready);
      }
    });
    proc.once('exit', (code) => reject(new Error(`self up exited (${code}) before it was ready:\n${upLog}`)));
  });
  url = ready.api_url;
}

/** The pid of `self up`'s inference service: its child process running the service's main module. */
function inferenceServicePid(): number {
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== up!.pid) continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('service/main.ts')) return Number(name);
    } catch {
      // exited meanwhile
    }
  }
  throw new Error('no inference service among the children of self up');
}

async function stopUp(): Promise<void> {
  const proc = up;
  if (proc === null || proc.exitCode !== null) return;
  const closed = new Promise((resolve) => proc.once('close', resolve));
  proc.kill('SIGTERM');
  await closed;
}

beforeAll(async () => {
  modelPath = await testModelPath();
  port = await freePort('127.0.0.1');
  await startUp();
  ok(self(['signup', '--tier', 'free']));
}, 180_000);

afterAll(async () => {
  await stopUp();
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('the private AI from the command line', () => {
  let firstThread = '';

  it('self up says which model serves each tier', () => {
    expect(ready.ai.map((m) => [m.tier, m.state])).toEqual([
      ['free', 'ready'],
      ['growth', 'ready'],
      ['pro', 'ready'],
      ['enterprise', 'ready'],
    ]);
    expect(new Set(ready.ai.map((m) => m.model)).size).toBe(1);
  });

  it('self chat "message" streams the reply and proposes a memory item', () => {
    const r = ok(self(['chat', 'Hi! Remember that my sister is called Ada.']));
    expect(r.out).toBe(`${TEST_MODEL_REPLY}\n`);
    expect(r.err).toContain('saved to memory: My sister is called Ada');
    const thread = /thread (th_[0-9a-f]+)/.exec(r.err);
    expect(thread).not.toBeNull();
    firstThread = thread![1]!;
  });

  it('memory items are listed, and deleted with self memory rm', () => {
    const { items } = json<{ items: Array<{ id: number; content: string }> }>(
      self(['--json', 'memory', 'ls']),
    );
    expect(items.map((i) => i.content)).toEqual(['My sister is called Ada']);
    const added = json<{ id: number; content: string }>(
      self(['--json', 'memory', 'add', 'I', 'live', 'in', 'Lyon']),
    );
    expect(added.content).toBe('I live in Lyon');
    ok(self(['memory', 'rm', String(added.id)]));
    const after = json<{ items: Array<{ content: string }> }>(self(['--json', 'memory', 'ls']));
    expect(after.items.map((i) => i.content)).toEqual(['My sister is called Ada']);
    const gone = self(['memory', 'rm', String(added.id)]);
    expect(gone.status).toBe(1);
    expect(gone.err).toContain('self memory ls');
  });

  it("cites the person's own notes that match the question", () => {
    ok(self(['data', 'put', 'notes', 'groceries', 'Buy apples and oat milk on Friday']));
    const r = ok(self(['chat', '--continue', 'What do I need to buy on Friday?']));
    expect(r.out).toBe(`${TEST_MODEL_REPLY}\n`);
    expect(r.err).toContain('sources: [1] notes/groceries');
  });

  it('--json prints every event of the stream as a JSON line', () => {
    const r = ok(self(['--json', 'chat', '--thread', firstThread, 'One more question about apples']));
    const events = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; content?: string });
    expect(events[0]!.event).toBe('start');
    expect(events.at(-1)!.event).toBe('done');
    const text = events
      .filter((e) => e.event === 'delta')
      .map((e) => e.content)
      .join('');
    expect(text).toBe(TEST_MODEL_REPLY);
  });

  it('lists the tier’s models, and an unknown thread is a clear error', () => {
    const { models } = json<{ models: Array<{ id: string; context_length: number }> }>(
      self(['--json', 'ai', 'models']),
    );
    expect(models).toHaveLength(1);
    expect(models[0]!.id).toBe(ready.ai[0]!.model);
    expect(models[0]!.context_length).toBeGreaterThan(0);
    const r = self(['chat', '--thread', 'th_000000000000000000000000', 'hello']);
    expect(r.status).toBe(1);
    expect(r.err).toContain('not_found');
  });

  it('the official openai client works against self ai endpoint', async () => {
    const ep = json<{ base_url: string; api_key: string }>(self(['--json', 'ai', 'endpoint']));
    expect(ep.base_url).toBe(
      `${url}/v1/i/${JSON.parse(readFileSync(join(home, 'identity.json'), 'utf8')).did}`,
    );
    const client = new OpenAI({ baseURL: ep.base_url, apiKey: ep.api_key, maxRetries: 0 });
    const model = ready.ai[0]!.model;
    const listed = await client.models.list();
    expect(listed.data.map((m) => m.id)).toEqual([model]);
    const completion = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Say something' }],
    });
    expect(completion.choices[0]!.message.content).toBe(TEST_MODEL_REPLY);
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Stream it' }],
      stream: true,
    });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      chunks++;
    }
    expect(text).toBe(TEST_MODEL_REPLY);
    expect(chunks).toBeGreaterThan(5);
    const wrongKey = new OpenAI({ baseURL: ep.base_url, apiKey: 'self_s_not-a-session', maxRetries: 0 });
    await expect(wrongKey.models.list()).rejects.toMatchObject({ status: 401 });
  });

  it('self chat without a message is an interactive chat (here on piped input)', () => {
    const r = spawnSync(process.execPath, [BIN, 'chat'], {
      input: 'What is on my list?\n/threads\n/exit\n',
      env: { ...process.env, SELF_HOME: home, SELF_PASSPHRASE: PASS, SELF_SERVER: url },
      timeout: 120_000,
    });
    const out = r.stdout.toString('utf8');
    expect(r.status, r.stderr.toString('utf8')).toBe(0);
    expect(out).toContain(`ai> ${TEST_MODEL_REPLY}\n`);
    expect(out).toContain(firstThread);
  });

  it('the inference service is restarted when it dies, and chat works again', async () => {
    const pid = inferenceServicePid();
    process.kill(pid, 'SIGKILL');
    let r: Run | null = null;
    for (let i = 0; i < 30; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      r = await selfAsync(['chat', '--thread', firstThread, 'Are you back?']);
      if (r.status === 0) break;
      expect(r.err).toMatch(/ai_unavailable|inference_failed/);
    }
    expect(r?.out).toBe(`${TEST_MODEL_REPLY}\n`);
    expect(inferenceServicePid()).not.toBe(pid);
  }, 120_000);

  it('history survives a restart of the whole cloud', async () => {
    await stopUp();
    await startUp();
    const { threads } = json<{ threads: Array<{ id: string; message_count: number }> }>(
      self(['--json', 'chat', '--threads']),
    );
    const first = threads.find((t) => t.id === firstThread);
    expect(first?.message_count).toBe(8);
    const r = ok(self(['chat', '--thread', firstThread, 'Still there?']));
    expect(r.out).toBe(`${TEST_MODEL_REPLY}\n`);
    const again = json<{ threads: Array<{ id: string; message_count: number }> }>(
      self(['--json', 'chat', '--threads']),
    );
    expect(again.threads.find((t) => t.id === firstThread)?.message_count).toBe(10);
  }, 180_000);
});

describe('self ai pull', () => {
  let server: Server;
  let base = '';
  let model: Buffer;

  beforeAll(async () => {
    model = readFileSync(modelPath);
    server = createServer((req, res) => {
      if (req.url !== '/models/tiny.gguf') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-length': model.length, 'content-type': 'application/octet-stream' });
      res.end(model);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('downloads a model into the data directory’s cache and checks its SHA-256', async () => {
    const sha256 = createHash('sha256').update(model).digest('hex');
    const pullData = join(root, 'pull');
    const r = json<{ path: string }>(
      await selfAsync([
        '--json',
        'ai',
        'pull',
        `${base}/models/tiny.gguf`,
        '--data',
        pullData,
        '--sha256',
        sha256,
      ]),
    );
    expect(r.path.startsWith(join(pullData, 'models'))).toBe(true);
    expect(createHash('sha256').update(readFileSync(r.path)).digest('hex')).toBe(sha256);
  });

  it('refuses a file whose checksum differs, and a URL that is not there', async () => {
    const bad = await selfAsync([
      'ai',
      'pull',
      `${base}/models/tiny.gguf`,
      '--data',
      join(root, 'bad'),
      '--sha256',
      '0'.repeat(64),
    ]);
    expect(bad.status).toBe(1);
    expect(bad.err).toContain('could not pull');
    const missing = await selfAsync(['ai', 'pull', `${base}/models/none.gguf`, '--data', join(root, 'bad')]);
    expect(missing.status).toBe(1);
    expect(missing.err).toContain('could not pull');
  });
});
