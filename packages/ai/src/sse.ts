import { createParser, type EventSourceParser } from 'eventsource-parser';

/**
 * The `data` of each server-sent event in a byte stream, as OpenAI-compatible servers send them.
 * eventsource-parser does the framing (events split anywhere, CR/LF/CRLF, multi-line data,
 * comments as keep-alives); this class adds the UTF-8 decoding of chunks that may end inside a
 * character, and hands back the events each chunk completes.
 */
export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private readonly parser: EventSourceParser;
  private completed: string[] = [];

  constructor() {
    this.parser = createParser({
      onEvent: (event) => {
        this.completed.push(event.data);
      },
    });
  }

  /** Feeds bytes (or text) and returns the data of every event they complete. */
  push(chunk: Uint8Array | string): string[] {
    this.parser.feed(typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true }));
    const events = this.completed;
    this.completed = [];
    return events;
  }

  /** The stream ended: an event not closed by a blank line is dropped (the SSE rule). */
  end(): string[] {
    this.decoder.decode();
    this.parser.reset({ consume: false });
    this.completed = [];
    return [];
  }
}
