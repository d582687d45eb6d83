import type { Readable } from 'node:stream';

/** Longest first line accepted: a config is well under 1 KiB. */
const MAX_LINE_BYTES = 64 * 1024;

/**
 * The process's stdin, as the protocol uses it (protocol.ts): the first line is the config; after
 * it stdin stays open for as long as the parent lives, so its end means the parent is gone.
 */
export class ParentChannel {
  private buffered = '';
  private line: Promise<string>;
  private endListeners: Array<() => void> = [];
  private ended = false;

  constructor(input: Readable) {
    input.setEncoding('utf8');
    this.line = new Promise<string>((resolve, reject) => {
      let done = false;
      input.on('data', (chunk: string) => {
        if (done) return; // later bytes carry no meaning; reading them keeps EOF detectable
        this.buffered += chunk;
        const nl = this.buffered.indexOf('\n');
        if (nl >= 0) {
          done = true;
          resolve(this.buffered.slice(0, nl));
          this.buffered = '';
        } else if (this.buffered.length > MAX_LINE_BYTES) {
          done = true;
          reject(new Error(`the config line on stdin is longer than ${MAX_LINE_BYTES} bytes`));
        }
      });
      const finish = (): void => {
        if (this.ended) return;
        this.ended = true;
        if (!done) {
          done = true;
          reject(new Error('stdin closed before a config line arrived'));
        }
        for (const fn of this.endListeners.splice(0)) fn();
      };
      input.on('end', finish);
      // A broken pipe is the parent going away too.
      input.on('error', finish);
    });
  }

  /** The first line, without its newline. */
  firstLine(): Promise<string> {
    return this.line;
  }

  /** Calls `fn` once stdin ends (at once if it already has). */
  onEnd(fn: () => void): void {
    if (this.ended) fn();
    else this.endListeners.push(fn);
  }
}
