import { describe, expect, it } from 'vitest';
import { SseParser } from '../src/index.js';

const stream =
  ': keep-alive\n\n' +
  'data: {"a":1}\n\n' +
  'event: message\r\nid: 3\r\ndata: {"b":"é✓"}\r\n\r\n' +
  'data: line one\ndata: line two\n\n' +
  'data:no-space\r\rdata: [DONE]\n\n' +
  'data: unfinished';
const expected = ['{"a":1}', '{"b":"é✓"}', 'line one\nline two', 'no-space', '[DONE]'];

describe('SseParser', () => {
  it('parses a whole stream', () => {
    const p = new SseParser();
    expect(p.push(stream)).toEqual(expected);
    expect(p.end()).toEqual([]);
  });

  it('gives the same events whatever the chunk boundaries, even inside UTF-8 characters and CRLF', () => {
    const bytes = new TextEncoder().encode(stream);
    for (let size = 1; size <= 7; size++) {
      const p = new SseParser();
      const events: string[] = [];
      for (let i = 0; i < bytes.length; i += size) events.push(...p.push(bytes.subarray(i, i + size)));
      expect(events, `chunks of ${size}`).toEqual(expected);
    }
    // Every split into two pieces.
    for (let cut = 0; cut <= bytes.length; cut++) {
      const p = new SseParser();
      const events = [...p.push(bytes.subarray(0, cut)), ...p.push(bytes.subarray(cut))];
      expect(events, `cut at ${cut}`).toEqual(expected);
    }
  });
});
