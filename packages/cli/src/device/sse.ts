import type { IncomingMessage } from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface SseEvent {
  event: string;
  data: unknown;
}

/**
 * The server-sent events of a response, parsed as they arrive (eventsource-parser does the framing:
 * events split across chunks, CRLF, comments). Each event's data is JSON; an event whose data is
 * not JSON is passed on as its text.
 */
export async function* readSse(body: IncomingMessage): AsyncGenerator<SseEvent> {
  const queue: SseEvent[] = [];
  const parser = createParser({
    onEvent(msg: EventSourceMessage) {
      let data: unknown = msg.data;
      try {
        data = JSON.parse(msg.data);
      } catch {
        // not JSON: keep the text
      }
      queue.push({ event: msg.event ?? 'message', data });
    },
  });
  body.setEncoding('utf8');
  for await (const chunk of body) {
    parser.feed(chunk as string);
    while (queue.length > 0) yield queue.shift()!;
  }
  while (queue.length > 0) yield queue.shift()!;
}
