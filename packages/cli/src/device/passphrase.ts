import { closeSync, openSync, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { ReadStream } from 'node:tty';
import { CliError } from '../errors.js';

/** The environment variable scripts and tests use instead of the prompt. */
export const PASSPHRASE_ENV = 'SELF_PASSPHRASE';

export interface PassphraseRequest {
  /** Shown in the prompt: "Passphrase for <what>: ". */
  what: string;
  /** New passphrases are typed twice. */
  confirm?: boolean;
}

/**
 * The passphrase that protects the identity file: `$SELF_PASSPHRASE` when set, else typed on the
 * terminal without echo. The prompt talks to /dev/tty, not stdin, so `… | self data put c k -`
 * still reads the value from stdin. Empty passphrases are refused: they would leave the recovery
 * phrase as good as unencrypted.
 */
export async function getPassphrase(
  req: PassphraseRequest,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const fromEnv = env[PASSPHRASE_ENV];
  if (fromEnv !== undefined) {
    if (fromEnv.length === 0)
      throw new CliError(
        `${PASSPHRASE_ENV} is set but empty; set it to the passphrase, or unset it to be asked`,
        2,
      );
    return fromEnv;
  }
  const first = await promptHidden(`Passphrase for ${req.what}: `);
  if (first.length === 0) throw new CliError('the passphrase must not be empty', 2);
  if (req.confirm === true) {
    const again = await promptHidden('Repeat the passphrase: ');
    if (again !== first) throw new CliError('the two passphrases differ; run the command again', 2);
  }
  return first;
}

const NO_TTY_MESSAGE =
  `no terminal to ask for the passphrase: set ${PASSPHRASE_ENV} ` +
  '(e.g. from a secret store) or run the command in a terminal';

/** Reads one line from the controlling terminal with echo off. */
export function promptHidden(prompt: string): Promise<string> {
  let inFd: number;
  let outFd: number;
  try {
    inFd = openSync('/dev/tty', 'r');
  } catch {
    return Promise.reject(new CliError(NO_TTY_MESSAGE, 2));
  }
  try {
    outFd = openSync('/dev/tty', 'w');
  } catch {
    closeSync(inFd);
    return Promise.reject(new CliError(NO_TTY_MESSAGE, 2));
  }
  const input = new ReadStream(inFd);
  const write = (text: string): void => {
    try {
      // Synchronous on a tty fd; a failed write only loses the prompt text.
      const buf = Buffer.from(text, 'utf8');
      let off = 0;
      while (off < buf.length) off += writeSyncSafe(outFd, buf.subarray(off));
    } catch {
      /* best effort */
    }
  };
  return new Promise<string>((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let value = '';
    const finish = (err: CliError | null): void => {
      input.off('data', onData);
      try {
        input.setRawMode(false);
      } catch {
        /* the terminal went away */
      }
      input.destroy();
      write('\n');
      closeSync(outFd);
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of decoder.write(chunk)) {
        if (ch === '\r' || ch === '\n') return finish(null);
        if (ch === '\u0003') return finish(new CliError('cancelled', 130));
        if (ch === '\u0004') {
          if (value.length === 0) return finish(new CliError('cancelled', 130));
          continue;
        }
        if (ch === '\u007f' || ch === '\b') {
          value = Array.from(value).slice(0, -1).join('');
          continue;
        }
        if (ch < ' ') continue;
        value += ch;
      }
    };
    try {
      input.setRawMode(true);
    } catch {
      input.destroy();
      closeSync(outFd);
      reject(new CliError(NO_TTY_MESSAGE, 2));
      return;
    }
    write(prompt);
    input.on('data', onData);
  });
}

function writeSyncSafe(fd: number, buf: Buffer): number {
  const n = writeSync(fd, buf);
  if (n <= 0) throw new Error('short write');
  return n;
}
