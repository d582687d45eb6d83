import pino, { type Logger } from 'pino';

/** Structured logs (JSON lines) go to stderr so stdout stays for the command's own output. */
export function createLogger(name: string): Logger {
  return pino({ name, level: process.env.SELF_LOG_LEVEL ?? 'info' }, pino.destination(2));
}
