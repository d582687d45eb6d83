import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import {
  CloudClient,
  DEFAULT_SERVER_URL,
  fromCloud,
  normalizeServerUrl,
  readTextIfExists,
} from '../device/index.js';
import { wantsJson } from './status.js';

/** Where `self up` keeps the operator token, under its --data directory. */
export const OPERATOR_TOKEN_FILE = join('cloud', 'operator.token');
export const OPERATOR_TOKEN_ENV = 'SELF_OPERATOR_TOKEN';

interface InstanceRow {
  did: string;
  instanceId?: string;
  tier?: string;
  state?: string;
  pid?: number | null;
  storageBytes?: number;
  quotaBytes?: number;
  lastActiveAt?: number | null;
  sandbox?: string;
  [field: string]: unknown;
}

interface InstancesOptions {
  server?: string;
  data: string;
}

export function registerInstances(program: Command): void {
  program
    .command('instances')
    .summary('operators: list the instances this cloud runs')
    .description(
      'operators: list every instance this SELF cloud runs, with its state, storage and sandbox. ' +
        `Needs the operator token: $${OPERATOR_TOKEN_ENV}, or the file ${OPERATOR_TOKEN_FILE} that \`self up\` writes under --data.`,
    )
    .option('--server <url>', `the SELF cloud (default: $SELF_SERVER, else ${DEFAULT_SERVER_URL})`)
    .option('--data <dir>', 'the data directory of `self up` (for the operator token)', './.self')
    .action(async (opts: InstancesOptions) => {
      const server = normalizeServerUrl(opts.server ?? (process.env.SELF_SERVER || DEFAULT_SERVER_URL));
      const token = operatorToken(opts.data);
      const client = new CloudClient(server, token);
      const r = await fromCloud(client.json<{ instances: InstanceRow[] }>('GET', '/v1/admin/instances'), {
        unauthenticated: `the operator token was refused: is it this cloud's (${server})? ${OPERATOR_TOKEN_ENV} or --data choose it`,
        forbidden: `the operator token was refused: is it this cloud's (${server})? ${OPERATOR_TOKEN_ENV} or --data choose it`,
      });
      if (wantsJson(program)) {
        console.log(JSON.stringify(r));
        return;
      }
      if (r.instances.length === 0) {
        console.log('no instances');
        return;
      }
      const rows = r.instances.map((i) => [
        i.did,
        i.tier ?? '',
        i.state ?? '',
        i.pid === null || i.pid === undefined ? '-' : String(i.pid),
        `${formatBytes(i.storageBytes)}/${formatBytes(i.quotaBytes)}`,
        i.lastActiveAt ? new Date(i.lastActiveAt).toISOString() : '-',
        i.sandbox ?? '',
      ]);
      const header = ['DID', 'TIER', 'STATE', 'PID', 'STORAGE', 'LAST ACTIVE', 'SANDBOX'];
      const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
      for (const row of [header, ...rows])
        console.log(
          row
            .map((cell, c) => cell.padEnd(widths[c]!))
            .join('  ')
            .trimEnd(),
        );
    });
}

function operatorToken(dataDir: string): string {
  const fromEnv = process.env[OPERATOR_TOKEN_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv.trim();
  const path = join(resolve(dataDir), OPERATOR_TOKEN_FILE);
  const text = readTextIfExists(path);
  if (text === null || text.trim() === '') {
    throw new CliError(
      `no operator token: ${path} does not exist and ${OPERATOR_TOKEN_ENV} is not set.\n` +
        '  hint: pass the --data directory `self up` runs with, or set ' +
        OPERATOR_TOKEN_ENV,
      2,
    );
  }
  return text.trim();
}

function formatBytes(n: number | undefined): string {
  if (n === undefined) return '?';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
