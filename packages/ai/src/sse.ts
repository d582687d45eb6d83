/**
 * A server-sent events parser for the `data:` lines OpenAI-compatible servers send. Bytes arrive
 * in arbitrary pieces (a chunk may end inside a line, inside a `\r\n`, or inside a UTF-8
 * character), so it buffers until an event is complete: a blank line ends it, and the `data:`
 * lines of one event are joined with `\n` (the SSE rule). Other fields (event, id, retry) and
 * comments (`:` lines, used as keep-alives) are ignored.
 */
export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';
  private data: string[] = [];
  /** A chunk ended with `\r`: a following `\n` belongs to the same line end. */
  private pendingCr = false;

  /** Feeds bytes (or text) and returns the data of every event they complete. */
  push(chunk: Uint8Array | string): string[] {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const events: string[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) break;
      if (m[0] === '\r' && m.index === this.buffer.length - 1) this.pendingCr = true;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line, events);
    }
    return events;
  }

  /** The stream ended: an event not closed by a blank line is dropped (the SSE rule). */
  end(): string[] {
    this.decoder.decode();
    this.buffer = '';
    this.data = [];
    return [];
  }

  private line(line: string, events: string[]): void {
    if (line === '') {
      if (this.data.length > 0) events.push(this.data.join('\n'));
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    if (field !== 'data') return;
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    this.data.push(value);
  }
}
