import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256, toHex } from '@self/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryJson, messageJson, threadJson, type MessageJson, type ThreadJson } from '../src/ai/json.js';
import type { MessageRecord } from '../src/ai/threads.js';
import { entryToJson, type AuditEntry } from '../src/audit/index.js';
import {
  EXPORT_VERSION,
  ExportError,
  exportInstance,
  readExport,
  readExportRecords,
  type AiUsageJson,
  type ExportRecord,
  type ExportSummary,
  type ExportedObject,
} from '../src/export.js';
import type { Actor, Instance } from '../src/instance.js';
import { T0, TEST_DID, createTestInstance, testKeys } from './fixtures/instance-helpers.js';

/**
 * The private assistant's state in the person's export (format v2): threads with their summaries,
 * every message with its status and meta, every memory item, every month of usage; read back and
 * checked like the rest of the archive. No inference service: the stores are written directly.
 */

const root = mkdtempSync(join(tmpdir(), 'self-export-ai-'));
const keys = testKeys();
const me: Actor = { kind: 'person', did: TEST_DID };
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const DAY = 24 * 60 * 60 * 1000;

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An archive's lines without the final empty string. */
const linesOf = (path: string): string[] => {
  const lines = readFileSync(path, 'utf8').split('\n');
  expect(lines.pop()).toBe('');
  return lines;
};

const write = (name: string, lines: string[]): string => {
  const path = join(root, name);
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
  return path;
};

/** `body` (every line but the end line) with an end line whose sha256 is recomputed over it. */
const resealed = (body: string[], end: Record<string, unknown>): string[] => {
  const digest = toHex(sha256(enc(body.map((l) => `${l}\n`).join(''))));
  return [...body, JSON.stringify({ ...end, sha256: digest })];
};

function exportErrorOf(fn: () => unknown): { code: string; reason: string; line: number; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof ExportError) {
      return { code: err.code, reason: err.details.reason, line: err.details.line, message: err.message };
    }
    throw err;
  }
  throw new Error('expected an ExportError');
}

function readAll(path: string): { records: ExportRecord[]; summary: ExportSummary } {
  const records: ExportRecord[] = [];
  const it = readExportRecords(path);
  for (;;) {
    const next = it.next();
    if (next.done === true) return { records, summary: next.value };
    records.push(next.value);
  }
}

describe('an instance with assistant state', () => {
  let clock = T0;
  let inst: Instance;
  let garden: ThreadJson;
  let long: ThreadJson;
  let incomplete: MessageRecord;
  let memoryIds: number[];
  /** What the stores hold, in the wire shapes, in the archive's order. */
  let expectedThreads: ThreadJson[];
  let expectedMessages: Map<string, MessageJson[]>;
  let expectedUsage: AiUsageJson[];
  let out: string;
  let lines: string[];
  /** Thread messages in the long thread: 2000 × 200 tokens = a 400K-token thread. */
  const LONG = 2000;
  /** More than MemoryStore.list returns (1000). */
  const MEMORY = 1005;

  beforeAll(() => {
    inst = createTestInstance(keys, {
      dir: join(root, 'inst'),
      instanceId: 'inst-export-ai',
      now: () => clock,
    });
    inst.put(me, 'notes', 'garden', enc('The tomatoes need water every morning.'), {
      contentType: 'text/plain',
    });
    const ai = inst.aiState();

    const g = ai.threads.create('Garden 🍅');
    clock += 1000;
    const ask = ai.threads.addMessage(g.id, {
      role: 'user',
      content: 'When do the tomatoes need water?\n"Quotes", ünïcödé, \u2028 and \\ too.',
      tokens: 14,
      status: 'complete',
      meta: {},
    });
    const remembered = ai.memory.create('My tomatoes are in the back garden', {
      thread: g.id,
      message: ask.id,
    });
    clock += 1000;
    ai.threads.addMessage(g.id, {
      role: 'assistant',
      content: 'Every morning [1].',
      tokens: 6,
      status: 'complete',
      meta: {
        model: 'test-model',
        usage: { prompt_tokens: 120, completion_tokens: 6, total_tokens: 126 },
        citations: [{ n: 1, collection: 'notes', key: 'garden', snippet: 'The tomatoes need water…' }],
        context: { mode: 'summary', omitted_messages: 0, summarized_messages: 1, note: 'summarized' },
        memory_ids: [remembered.item.id],
      },
    });
    ai.threads.setSummary(g.id, 'The person asked when to water the tomatoes.', ask.id, 1);

    const l = ai.threads.create(null);
    ai.transaction(() => {
      for (let i = 0; i < LONG - 1; i++) {
        ai.threads.addMessage(l.id, {
          role: i % 2 === 0 ? 'user' : 'assistant',
          content: `message ${i} `.repeat(60),
          tokens: 200,
          status: 'complete',
          meta: i % 2 === 0 ? {} : { model: 'test-model' },
        });
      }
    });
    clock += 1000;
    incomplete = ai.threads.addMessage(l.id, {
      role: 'assistant',
      content: 'The answer is cut sh',
      tokens: 200,
      status: 'incomplete',
      meta: { model: 'test-model', error: 'inference_failed' },
    });

    memoryIds = [remembered.item.id];
    ai.transaction(() => {
      for (let i = memoryIds.length; i < MEMORY; i++) {
        memoryIds.push(ai.memory.create(`fact number ${i}`).item.id);
      }
    });
    clock += 1000;
    ai.memory.update(memoryIds[1]!, 'I like green tea');

    ai.usage.record(1000, 200);
    ai.usage.record(50, 5);
    clock += 40 * DAY; // February
    ai.usage.record(7, 3);

    garden = threadJson(ai.threads.require(g.id));
    long = threadJson(ai.threads.require(l.id));
    expectedThreads = [garden, long].sort((a, b) => (a.id < b.id ? -1 : 1));
    expectedMessages = new Map(
      expectedThreads.map((t) => [t.id, ai.threads.range(t.id, 0, Number.MAX_SAFE_INTEGER).map(messageJson)]),
    );
    expectedUsage = ai.usage
      .history()
      .reverse()
      .map(({ month, prompt_tokens, completion_tokens, requests }) => ({
        month,
        prompt_tokens,
        completion_tokens,
        requests,
      }));
  });

  afterAll(() => inst.close());

  it('holds what the test set up', () => {
    expect(garden.summary).toEqual({
      text: 'The person asked when to water the tomatoes.',
      upto_message_id: expect.any(Number),
      summarized_messages: 1,
    });
    expect(long.summary).toBeNull();
    expect(long.message_count).toBe(LONG);
    expect(long.token_count).toBe(LONG * 200);
    expect(incomplete.status).toBe('incomplete');
    expect(inst.aiState().memory.count()).toBe(MEMORY);
    expect(expectedUsage).toEqual([
      { month: '2026-01', prompt_tokens: 1050, completion_tokens: 205, requests: 2 },
      { month: '2026-02', prompt_tokens: 7, completion_tokens: 3, requests: 1 },
    ]);
  });

  it('exports every thread, message, memory item and month; they read back exactly', () => {
    out = join(root, 'archive.jsonl');
    const result = exportInstance(inst, out, { now: () => clock });
    expect(result).toMatchObject({
      objects: 1,
      aiThreads: 2,
      aiMessages: LONG + 2,
      aiMemory: MEMORY,
      aiUsage: 2,
    });

    const threads: ThreadJson[] = [];
    const messages = new Map<string, MessageJson[]>();
    const memory: unknown[] = [];
    const usage: AiUsageJson[] = [];
    let current: string | null = null;
    const objects: ExportedObject[] = [];
    const audit: AuditEntry[] = [];
    const summary = readExport(out, {
      onObject: (o) => objects.push(o),
      onAuditEntry: (e) => audit.push(e),
      onAiThread: (t) => {
        threads.push(t);
        current = t.id;
        messages.set(t.id, []);
      },
      onAiMessage: (m) => {
        // Each message right after its thread's line (and the thread's earlier messages).
        expect(m.thread_id).toBe(current);
        messages.get(m.thread_id)!.push(m);
      },
      onAiMemory: (m) => memory.push(m),
      onAiUsage: (u) => usage.push(u),
    });
    expect(summary).toEqual({
      header: {
        format: 'self-export',
        v: 3,
        did: TEST_DID,
        instance_id: 'inst-export-ai',
        exported_at: clock,
      },
      objects: 1,
      auditEntries: result.auditEntries,
      aiThreads: 2,
      aiMessages: LONG + 2,
      aiMemory: MEMORY,
      aiUsage: 2,
      grants: 0,
      sha256: result.sha256,
      bytes: result.bytes,
    });
    expect(EXPORT_VERSION).toBe(3);

    // The wire shapes of the AI API, as the stores hold them now.
    const ai = inst.aiState();
    expect(threads).toEqual(expectedThreads);
    expect(messages).toEqual(expectedMessages);
    expect(memory).toEqual(memoryIds.map((id) => memoryJson(ai.memory.get(id)!)));
    expect(usage).toEqual(expectedUsage);
    expect(objects.map((o) => o.key)).toEqual(['garden']);
    expect(audit.map(entryToJson)).toEqual(inst.auditEntries(1, audit.length).map(entryToJson));

    const gardenMessages = messages.get(garden.id)!;
    expect(gardenMessages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(gardenMessages[0]!.content).toBe(
      'When do the tomatoes need water?\n"Quotes", ünïcödé, \u2028 and \\ too.',
    );
    expect(gardenMessages[1]!.meta.memory_ids).toEqual([memoryIds[0]]);
    const last = messages.get(long.id)!.at(-1)!;
    expect(last).toEqual(messageJson(incomplete));
    expect(last).toMatchObject({ status: 'incomplete', meta: { error: 'inference_failed' } });
    expect(memory[0]).toMatchObject({ source: { thread_id: garden.id, message_id: gardenMessages[0]!.id } });
    expect(memory[1]).toMatchObject({ content: 'I like green tea', source: null });
  });

  it('writes each record as one line of its wire shape, in the documented order', () => {
    lines = linesOf(out);
    const types = lines.map((l) => Object.keys(JSON.parse(l) as object)[0]);
    const firstAi = types.indexOf('ai.thread');
    expect(types.slice(0, firstAi).filter((t) => t === 'audit').length).toBeGreaterThan(0);
    const aiTypes = types.slice(firstAi, -1);
    const [first, second] = expectedThreads;
    const firstCount = expectedMessages.get(first!.id)!.length;
    expect(aiTypes).toEqual([
      'ai.thread',
      ...Array<string>(firstCount).fill('ai.message'),
      'ai.thread',
      ...Array<string>(expectedMessages.get(second!.id)!.length).fill('ai.message'),
      ...Array<string>(MEMORY).fill('ai.memory'),
      'ai.usage',
      'ai.usage',
    ]);

    // Byte for byte: every AI line is exactly the record read back, serialized.
    const expectedLines = [
      ...expectedThreads.flatMap((t) => [
        JSON.stringify({ 'ai.thread': t }),
        ...expectedMessages.get(t.id)!.map((m) => JSON.stringify({ 'ai.message': m })),
      ]),
      ...memoryIds.map((id) => JSON.stringify({ 'ai.memory': memoryJson(inst.aiState().memory.get(id)!) })),
      ...expectedUsage.map((u) => JSON.stringify({ 'ai.usage': u })),
    ];
    expect(lines.slice(firstAi, -1)).toEqual(expectedLines);
    const { records } = readAll(out);
    const reserialized = records
      .filter((r) => r.type.startsWith('ai.'))
      .map((r) => {
        switch (r.type) {
          case 'ai.thread':
            return JSON.stringify({ 'ai.thread': r.thread });
          case 'ai.message':
            return JSON.stringify({ 'ai.message': r.message });
          case 'ai.memory':
            return JSON.stringify({ 'ai.memory': r.item });
          case 'ai.usage':
            return JSON.stringify({ 'ai.usage': r.usage });
          default:
            throw new Error('not an AI record');
        }
      });
    expect(reserialized).toEqual(expectedLines);

    // The end line counts them, and its sha256 covers them.
    const end = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    expect(Object.keys(end)).toEqual([
      'end',
      'objects',
      'audit_entries',
      'ai_threads',
      'ai_messages',
      'ai_memory',
      'ai_usage',
      'grants',
      'sha256',
    ]);
    expect(end).toMatchObject({ ai_threads: 2, ai_messages: LONG + 2, ai_memory: MEMORY, ai_usage: 2 });
    expect(end.sha256).toBe(
      toHex(
        sha256(
          enc(
            lines
              .slice(0, -1)
              .map((l) => `${l}\n`)
              .join(''),
          ),
        ),
      ),
    );
  });

  it('detects a tampered ai.message line', () => {
    const i = lines.findIndex((l) => l.includes('"status":"incomplete"'));
    expect(i).toBeGreaterThan(0);
    // Marking the cut-short reply complete: only the archive's sha256 can tell.
    const edited = [...lines];
    edited[i] = edited[i]!.replace('"status":"incomplete"', '"status":"complete"');
    expect(exportErrorOf(() => readExport(write('edited.jsonl', edited)))).toMatchObject({
      code: 'checksum_mismatch',
      reason: 'sha256',
    });
    // The content changed: the same.
    const content = [...lines];
    content[i] = content[i]!.replace('cut sh', 'cut short');
    expect(exportErrorOf(() => readExport(write('content.jsonl', content)))).toMatchObject({
      code: 'checksum_mismatch',
      reason: 'sha256',
    });
    // A message line dropped.
    const dropped = [...lines];
    dropped.splice(i, 1);
    expect(exportErrorOf(() => readExport(write('dropped.jsonl', dropped)))).toMatchObject({
      code: 'checksum_mismatch',
      reason: 'sha256',
    });
    // Dropped and resealed by whoever edits the file: the counts no longer add up.
    const end = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    expect(
      exportErrorOf(() => readExport(write('dropped-resealed.jsonl', resealed(dropped.slice(0, -1), end)))),
    ).toMatchObject({ code: 'malformed_archive', reason: 'counts', line: dropped.length });
  });

  it('rejects malformed AI records, naming the line', () => {
    const end = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    const body = lines.slice(0, -1);
    const i = body.findIndex((l) => l.includes('"status":"incomplete"'));
    const check = (name: string, edit: (record: Record<string, unknown>) => void, at = i) => {
      const copy = [...body];
      const value = JSON.parse(copy[at]!) as Record<string, Record<string, unknown>>;
      edit(value);
      copy[at] = JSON.stringify(value);
      return exportErrorOf(() => readExport(write(`${name}.jsonl`, resealed(copy, end))));
    };
    const message = (fn: (m: Record<string, unknown>) => void) => (v: Record<string, unknown>) =>
      fn(v['ai.message'] as Record<string, unknown>);

    const status = check(
      'status',
      message((m) => (m.status = 'partial')),
    );
    expect(status).toMatchObject({ code: 'malformed_archive', reason: 'ai_message', line: i + 1 });
    expect(status.message).toBe(
      `line ${i + 1}: a malformed ai.message record: status is neither "complete" nor "incomplete"`,
    );
    expect(
      check(
        'extra',
        message((m) => (m.extra = 1)),
      ),
    ).toMatchObject({
      reason: 'ai_message',
      line: i + 1,
    });
    expect(
      check(
        'meta',
        message((m) => (m.meta = 'x')),
      ),
    ).toMatchObject({ reason: 'ai_message' });
    expect(
      check(
        'meta-ids',
        message((m) => (m.meta = { memory_ids: ['x'] })),
      ),
    ).toMatchObject({
      reason: 'ai_message',
    });
    expect(
      check(
        'tokens',
        message((m) => (m.tokens = -1)),
      ),
    ).toMatchObject({ reason: 'ai_message' });
    expect(check('two', (v) => (v.audit = {}))).toMatchObject({ reason: 'audit' });
    expect(check('both', (v) => (v['ai.memory'] = {}))).toMatchObject({ reason: 'ai_message' });
    // A message under the wrong thread, or out of order.
    const other = expectedThreads.find((t) => t.id !== long.id)!.id;
    expect(
      check(
        'thread',
        message((m) => (m.thread_id = other)),
      ),
    ).toMatchObject({
      reason: 'order',
      line: i + 1,
    });
    expect(
      check(
        'id',
        message((m) => (m.id = 1)),
      ),
    ).toMatchObject({ reason: 'order', line: i + 1 });

    const t = body.findIndex((l) => l.startsWith('{"ai.thread"'));
    const thread = (fn: (th: Record<string, unknown>) => void) => (v: Record<string, unknown>) =>
      fn(v['ai.thread'] as Record<string, unknown>);
    expect(
      check(
        'thread-id',
        thread((th) => (th.id = 'nope')),
        t,
      ),
    ).toMatchObject({
      reason: 'ai_thread',
      line: t + 1,
    });
    expect(
      check(
        'summary',
        thread((th) => (th.summary = { text: 1 })),
        t,
      ),
    ).toMatchObject({
      reason: 'ai_thread',
    });

    const mem = body.findIndex((l) => l.startsWith('{"ai.memory"'));
    expect(
      check('source', (v) => ((v['ai.memory'] as Record<string, unknown>).source = 'x'), mem),
    ).toMatchObject({ reason: 'ai_memory', line: mem + 1 });
    const use = body.findIndex((l) => l.startsWith('{"ai.usage"'));
    expect(
      check('month', (v) => ((v['ai.usage'] as Record<string, unknown>).month = '2026-13'), use),
    ).toMatchObject({ reason: 'ai_usage', line: use + 1 });

    // Sections out of order: usage before memory, a thread after the memory items.
    const swapped = [...body];
    [swapped[mem], swapped[use]] = [swapped[use]!, swapped[mem]!];
    expect(exportErrorOf(() => readExport(write('swapped.jsonl', resealed(swapped, end))))).toMatchObject({
      reason: 'order',
      line: mem + 2,
    });
    const late = [...body.slice(0, t), ...body.slice(t + 1, use), body[t]!, ...body.slice(use)];
    expect(exportErrorOf(() => readExport(write('late.jsonl', resealed(late, end))))).toMatchObject({
      reason: 'order',
    });

    // AI records in a version 1 archive.
    const v1 = [...body];
    v1[0] = v1[0]!.replace('"v":3', '"v":1');
    const { ai_threads: _t, ai_messages: _m, ai_memory: _mm, ai_usage: _u, grants: _g, ...endV1 } = end;
    expect(exportErrorOf(() => readExport(write('v1-ai.jsonl', resealed(v1, endV1))))).toMatchObject({
      reason: 'version',
      line: t + 1,
    });
    // The unchanged archive, resealed, still reads.
    expect(readExport(write('resealed.jsonl', resealed(body, end))).aiMessages).toBe(LONG + 2);
  });

  it('reads the assistant state one row at a time: an abandoned iteration leaves the instance usable', () => {
    const ai = inst.aiState();
    let seen = 0;
    expect(() =>
      inst.exportSnapshot(
        (view) => {
          for (const m of view.aiMessages(long.id)) {
            expect(m.threadId).toBe(long.id);
            if (++seen === 10) throw new Error('stop');
          }
        },
        () => 'test',
      ),
    ).toThrow('stop');
    expect(seen).toBe(10);
    const n = inst.exportSnapshot(
      (view) => {
        let count = 0;
        for (const thread of view.aiThreads()) {
          for (const m of view.aiMessages(thread.id)) {
            count++;
            if (m.id > 0) break;
          }
        }
        for (const item of view.aiMemory()) if (item.id > 0) break;
        for (const month of view.aiUsage()) if (month.requests > 0) break;
        return count;
      },
      () => 'test',
    );
    expect(n).toBe(2);
    // Writes work again: every iterator was closed.
    ai.threads.addMessage(long.id, {
      role: 'user',
      content: 'again',
      tokens: 1,
      status: 'complete',
      meta: {},
    });
    ai.memory.create('written after the snapshots');
    ai.usage.record(1, 1);
    expect(inst.auditVerify().ok).toBe(true);
  });
});

describe('an instance without assistant state', () => {
  it('exports exactly as before apart from the version, and its version 1 form still reads', () => {
    const inst = createTestInstance(keys, {
      dir: join(root, 'plain'),
      instanceId: 'inst-plain',
      now: () => T0,
    });
    try {
      inst.put(me, 'notes', 'a', enc('first'), { contentType: 'text/plain' });
      inst.put(me, 'notes', 'b', enc('second'), { contentType: 'text/plain' });
      const out = join(root, 'plain.jsonl');
      const result = exportInstance(inst, out, { now: () => T0 + 1 });
      expect(result).toMatchObject({ objects: 2, aiThreads: 0, aiMessages: 0, aiMemory: 0, aiUsage: 0 });
      const lines = linesOf(out);

      // The header, the object lines, the audit lines and the end line; nothing else.
      expect(JSON.parse(lines[0]!)).toEqual({
        format: 'self-export',
        v: 3,
        did: TEST_DID,
        instance_id: 'inst-plain',
        exported_at: T0 + 1,
      });
      const body = lines.slice(1, -1).map((l) => Object.keys(JSON.parse(l) as object));
      expect(body.slice(0, 2).every((k) => k[0] === 'ns')).toBe(true);
      expect(body.slice(2).every((k) => k.join() === 'audit,hash')).toBe(true);
      expect(body).toHaveLength(2 + result.auditEntries);
      const end = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
      expect(end).toEqual({
        end: true,
        objects: 2,
        audit_entries: result.auditEntries,
        ai_threads: 0,
        ai_messages: 0,
        ai_memory: 0,
        ai_usage: 0,
        grants: 0,
        sha256: result.sha256,
      });
      const v2 = readExport(out);

      // The version 1 archive of the same snapshot: the same lines, v 1, the end line without the
      // assistant's counts. It reads as before, to the same records.
      const v1Lines = resealed([lines[0]!.replace('"v":3', '"v":1'), ...lines.slice(1, -1)], {
        end: true,
        objects: 2,
        audit_entries: result.auditEntries,
      });
      const v1Path = write('plain-v1.jsonl', v1Lines);
      const v1 = readAll(v1Path);
      expect(v1.summary).toEqual({
        ...v2,
        header: { ...v2.header, v: 1 },
        sha256: JSON.parse(v1Lines.at(-1)!).sha256,
        bytes: v2.bytes - lines.at(-1)!.length + v1Lines.at(-1)!.length,
      });
      expect(readAll(out).records).toEqual(v1.records);
      // A version 2 end line in a version 1 archive, or the reverse, is malformed.
      const mixed = resealed([lines[0]!.replace('"v":3', '"v":1'), ...lines.slice(1, -1)], end);
      expect(exportErrorOf(() => readExport(write('mixed.jsonl', mixed)))).toMatchObject({
        reason: 'end',
        line: lines.length,
      });
      const v2WithV1End = resealed(lines.slice(0, -1), { end: true, objects: 2, audit_entries: 1 });
      expect(exportErrorOf(() => readExport(write('mixed2.jsonl', v2WithV1End)))).toMatchObject({
        reason: 'end',
      });
      // An unknown version is refused at the header.
      const v4 = [lines[0]!.replace('"v":3', '"v":4'), ...lines.slice(1)];
      expect(exportErrorOf(() => readExport(write('v4.jsonl', v4)))).toMatchObject({
        reason: 'header',
        line: 1,
      });
    } finally {
      inst.close();
    }
  });
});
