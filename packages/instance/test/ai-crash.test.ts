import { request } from 'node:http';
import {
  InferenceClient,
  catalogueForModel,
  spawnInferenceService,
  type SpawnedInferenceService,
} from '@self/ai';
import { TEST_LONG_REPLY, testModelPath } from '@self/ai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AiConnection } from '../src/ai/connection.js';
import { PERSON, parseSse, serveInstance, tempRoot, type ServedInstance } from './fixtures/ai-helpers.js';
import { testKeys } from './fixtures/instance-helpers.js';

/**
 * The inference service's process killed (SIGKILL) while a reply streams: the person gets an
 * `error` event, the reply so far is kept and marked incomplete, nothing else is lost, and the
 * instance says plainly that the AI is unavailable until the service is back.
 */

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= 'true';

const { root, remove } = tempRoot('self-ai-crash-');
let service: SpawnedInferenceService;
let s: ServedInstance;

beforeAll(async () => {
  const catalogue = catalogueForModel(await testModelPath('long'), { id: 'long' });
  service = await spawnInferenceService({
    catalogue,
    cacheDir: root,
    allowTestModels: true,
    host: '127.0.0.1',
    port: 0,
    logLevel: 'warn',
    threads: 1,
    gpu: false,
  });
  const connection: AiConnection = {
    url: service.url,
    key: service.key,
    models: ['long'],
    embeddingModel: null,
    monthlyTokenBudget: null,
  };
  s = await serveInstance(root, testKeys(), 'crash', {
    connection,
    client: new InferenceClient({ url: service.url, key: service.key }),
  });
}, 60_000);

afterAll(async () => {
  await s?.close();
  await service?.stop();
  remove();
});

/** Sends a message and kills the service once the first words of the reply have arrived. */
function sendAndKillMidStream(threadId: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: s.socket,
        method: 'POST',
        path: `/v1/ai/threads/${threadId}/messages`,
        headers: { ...PERSON, accept: 'text/event-stream', 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        let killed = false;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          if (!killed && (text.match(/event: delta/g) ?? []).length >= 3) {
            killed = true;
            service.process.kill('SIGKILL');
          }
        });
        res.on('end', () => resolve(text));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ content: 'Tell me everything.' }));
  });
}

describe('the inference service dies mid-stream', () => {
  it('ends the stream with an error event and keeps the partial reply, marked incomplete', async () => {
    const threadId = await s.thread('crash');
    const events = parseSse(await sendAndKillMidStream(threadId));
    expect(events[0]!.event).toBe('start');
    const last = events.at(-1)!;
    expect(last.event).toBe('error');
    expect(last.data.error).toBe('inference_failed');
    expect(typeof last.data.partial_message_id).toBe('number');
    const streamed = events
      .filter((e) => e.event === 'delta')
      .map((e) => e.data.content as string)
      .join('');
    expect(streamed.length).toBeGreaterThan(0);
    expect(TEST_LONG_REPLY.startsWith(streamed)).toBe(true);
    expect(streamed.length).toBeLessThan(TEST_LONG_REPLY.length);

    const page = (await s.call('GET', `/v1/ai/threads/${threadId}`)).json();
    expect(page.messages.map((m: { role: string; status: string }) => [m.role, m.status])).toEqual([
      ['user', 'complete'],
      ['assistant', 'incomplete'],
    ]);
    const partial = page.messages[1];
    expect(partial.id).toBe(last.data.partial_message_id);
    expect(partial.content).toBe(streamed);
    expect(partial.meta.error).toBeDefined();
  });

  it('then says plainly that the AI is unavailable, storing nothing, while the data API works', async () => {
    const threadId = await s.thread('after');
    const r = await s.call('POST', `/v1/ai/threads/${threadId}/messages`, { content: 'Are you there?' });
    expect(r.status).toBe(503);
    expect(r.json()).toMatchObject({ error: 'ai_unavailable', message: expect.any(String) });
    const page = (await s.call('GET', `/v1/ai/threads/${threadId}`)).json();
    expect(page.messages).toEqual([]);
    const put = await s.call('PUT', '/v1/data/notes/still-here', 'yes', {
      ...PERSON,
      'content-type': 'text/plain',
    });
    expect(put.status).toBe(200);
    expect(s.inst.auditVerify()).toMatchObject({ ok: true });
  });
});
