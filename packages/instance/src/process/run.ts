import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fromHex } from '@self/crypto';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { NodeClient } from '@self/node/client';
import { InferenceClient } from '@self/ai/client';
import { Anchorer } from '../anchor/anchorer.js';
import { instanceAnnouncement } from '../anchor/node-record.js';
import { Instance } from '../instance.js';
import { INSTANCE_SOCKET_FILE, createInstanceServer, listenOnSocket } from '../server/server.js';
import { isInstanceError } from '../store/errors.js';
import { DB_FILE } from '../store/store.js';
import { readKeyFile, unlockWithHostKey } from '../vault.js';
import { checkDatabaseIntegrity } from './integrity-check.js';
import { ParentChannel } from './parent-channel.js';
import {
  EXIT_DAMAGED,
  EXIT_START_FAILED,
  parseProcessConfig,
  type InstanceProcessConfig,
  type ReadyEvent,
} from './protocol.js';

/**
 * The instance process (protocol.ts): reads its config from stdin, opens the instance with the
 * host key, serves the instance API on `<dir>/instance.sock`, anchors when a chain is configured,
 * prints the ready line, and closes everything on SIGTERM, SIGINT or the end of stdin.
 */

export interface ProcessIo {
  stdin: Readable;
  stdout: Writable;
  /** Where log lines go (a file descriptor; pino writes to it synchronously). */
  logFd: number;
  exit: (code: number) => void;
}

const defaultIo = (): ProcessIo => ({
  stdin: process.stdin,
  stdout: process.stdout,
  logFd: 2,
  exit: (code) => process.exit(code),
});

/** Longest a graceful stop waits for requests in flight before it closes the instance anyway. */
const CLOSE_GRACE_MS = 5_000;
/** The whole-database check starts this long after the ready line, out of the first request's way. */
const INTEGRITY_CHECK_DELAY_MS = 100;

interface Running {
  instance: Instance;
  server: FastifyInstance;
  stopAnchoring: () => Promise<void>;
  /** The data key, for the integrity check only; wiped once it ran. */
  dataKey: Uint8Array;
}

export async function runInstanceProcess(io: ProcessIo = defaultIo()): Promise<void> {
  let logger: Logger = pino({ level: 'warn' }, pino.destination({ fd: io.logFd, sync: true }));
  let running: Running | null = null;
  let stopping = false;

  const stop = async (why: string, code = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ why }, 'stopping');
    // Not started yet: nothing is open that a kill could hurt (SQLite stays consistent).
    if (running === null) return io.exit(code);
    const { instance, server, stopAnchoring, dataKey } = running;
    dataKey.fill(0);
    try {
      await stopAnchoring();
      await Promise.race([
        server.close(),
        new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref()),
      ]);
    } catch (err) {
      logger.warn({ err }, 'closing the server failed');
    }
    instance.close();
    io.exit(code);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  const channel = new ParentChannel(io.stdin);
  let config: InstanceProcessConfig;
  try {
    config = parseProcessConfig(await channel.firstLine());
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'no usable config on stdin');
    return io.exit(EXIT_START_FAILED);
  }
  logger = pino({ level: config.logLevel }, pino.destination({ fd: io.logFd, sync: true }));
  channel.onEnd(() => void stop('stdin closed: the parent is gone'));

  try {
    running = await start(config, logger, (line) => io.stdout.write(line));
  } catch (err) {
    logger.fatal({ err }, 'the instance process could not start');
    return io.exit(isInstanceError(err, 'corrupt') ? EXIT_DAMAGED : EXIT_START_FAILED);
  }
  const { dataKey } = running;
  setTimeout(() => {
    if (stopping) return;
    void checkDatabaseIntegrity(join(config.dir, DB_FILE), dataKey).then((result) => {
      dataKey.fill(0);
      if (stopping) return;
      if (result.status === 'ok') return logger.debug('the database passed its integrity check');
      if (result.status === 'skipped')
        return logger.warn({ why: result.why }, 'the integrity check did not run');
      logger.fatal(
        { problems: result.problems },
        'the instance database failed its integrity check (a page was altered or damaged); restore it from a backup',
      );
      return stop('the database is damaged', EXIT_DAMAGED);
    });
  }, INTEGRITY_CHECK_DELAY_MS).unref();
}

async function start(
  config: InstanceProcessConfig,
  logger: Logger,
  print: (line: string) => void,
): Promise<Running> {
  const hostKey = fromHex(config.hostKey);
  let instance: Instance;
  let dataKey: Uint8Array;
  try {
    instance = Instance.open({ dir: config.dir, hostKey });
    dataKey = unlockWithHostKey(readKeyFile(config.dir), hostKey);
  } finally {
    hostKey.fill(0);
  }
  let server: FastifyInstance | null = null;
  try {
    server = createInstanceServer(instance, {
      logger,
      exportDir: config.dir,
      appTokens: config.appTokens,
      chain: config.chain === null ? null : new NodeClient(config.chain.apiUrl),
      ai:
        config.ai === null
          ? null
          : {
              connection: config.ai,
              client: new InferenceClient({ url: config.ai.url, key: config.ai.key }),
            },
    });
    const socket = await listenOnSocket(server, join(config.dir, INSTANCE_SOCKET_FILE));
    const stopAnchoring = await startAnchoring(config, instance, logger);
    const { address } = instance.instanceKeyInfo();
    const ready: ReadyEvent = {
      event: 'ready',
      socket,
      pid: process.pid,
      did: instance.did,
      instance_address: address,
    };
    print(`${JSON.stringify(ready)}\n`);
    return { instance, server, stopAnchoring, dataKey };
  } catch (err) {
    dataKey.fill(0);
    await server?.close().catch(() => undefined);
    instance.close();
    throw err;
  }
}

/** Starts the anchorer when a chain is configured. */
async function startAnchoring(
  config: InstanceProcessConfig,
  instance: Instance,
  logger: Logger,
): Promise<() => Promise<void>> {
  if (config.chain === null) return async () => undefined;
  const { address } = instance.instanceKeyInfo();
  const anchorer = new Anchorer({
    instance,
    chain: new NodeClient(config.chain.apiUrl),
    chainId: config.chain.chainId,
    pointPrice: config.chain.pointPrice,
    schedule: config.anchor,
    announcement:
      config.endpoint === null ? null : instanceAnnouncement(instance.did, address, config.endpoint),
    logger: logger.child({ component: 'anchorer' }),
  });
  anchorer.start();
  return () => anchorer.stop();
}
