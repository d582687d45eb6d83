/**
 * Server-sent events framing (the WHATWG HTML "event stream" grammar), small enough to own: lines
 * end in CRLF, LF or CR; `field: value` lines build an event; a blank line dispatches it; lines
 * starting with `:` are comments. Nothing here interprets `data`.
 */

/** One dispatched server-sent event. */
export interface ServerSentEvent {
  /** The `event:` field; `message` when the event named none. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The `id:` field, when the event had one. */
  id?: string;
  /** The `retry:` field in milliseconds, when the event had one. */
  retry?: number;
}

/** An incremental parser: feed it decoded text as it arrives, take the events it completes. */
export class SSEParser {
  private buffer = '';
  private started = false;
  private event = '';
  private data: string[] = [];
  private id: string | undefined;
  private retry: number | undefined;

  /** Parses `chunk` and answers the events it completed (an event split across chunks waits). */
  feed(chunk: string): ServerSentEvent[] {
    let text = this.buffer + chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const out: ServerSentEvent[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c !== '\n' && c !== '\r') continue;
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (c === '\r' && i === text.length - 1) break;
      this.line(text.slice(start, i), out);
      if (c === '\r' && text[i + 1] === '\n') i++;
      start = i + 1;
    }
    this.buffer = text.slice(start);
    return out;
  }

  /** The stream ended: a trailing lone CR closes its line; an event without its blank line is dropped. */
  end(): ServerSentEvent[] {
    const out: ServerSentEvent[] = [];
    if (this.buffer.endsWith('\r')) this.line(this.buffer.slice(0, -1), out);
    this.buffer = '';
    this.event = '';
    this.data = [];
    return out;
  }

  private line(line: string, out: ServerSentEvent[]): void {
    if (line === '') {
      this.dispatch(out);
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(out: ServerSentEvent[]): void {
    // The id persists across events (it is the stream's last event id); event and data do not.
    if (this.data.length > 0) {
      out.push({
        event: this.event === '' ? 'message' : this.event,
        data: this.data.join('\n'),
        ...(this.id !== undefined ? { id: this.id } : {}),
        ...(this.retry !== undefined ? { retry: this.retry } : {}),
      });
    }
    this.event = '';
    this.data = [];
    this.retry = undefined;
  }
}

/**
 * The events of a response body, as they arrive. Stopping early (`break`, `return`, a thrown error)
 * cancels the body, which closes the connection.
 */
export async function* readServerSentEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<ServerSentEvent, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SSEParser();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.feed(decoder.decode(value, { stream: true }));
    }
    yield* parser.feed(decoder.decode());
    yield* parser.end();
    finished = true;
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
