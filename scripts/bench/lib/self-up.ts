import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { encodeSignedTransaction, signTransaction, type Transaction } from '@self/chain';
import type { DeviceIdentity } from '@self/crypto';

/**
 * What the benchmarks that measure the whole product share: `self up` in a child process (its own
 * event loop, like production), a bare Fastify route to compare with, and sign-ups made the way a
 * device makes them.
 */

const BIN = fileURLToPath(new URL('../../../packages/cli/bin/self.js', import.meta.url));

export interface BenchUp {
  url: string;
  chainId: string;
  /** The ready line, parsed. */
  ready: Record<string, unknown>;
  proc: ChildProcess;
}

/** Child processes to stop when the benchmark exits, whatever way it exits. */
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGTERM');
});

/** `self --json up --data <dataDir> --port 0 …args`, once it printed its ready line. */
export async function startSelfUp(
  dataDir: string,
  args: string[],
  opts: { nodeArgs?: string[] } = {},
): Promise<BenchUp> {
  const proc = spawn(
    process.execPath,
    [...(opts.nodeArgs ?? []), BIN, '--json', 'up', '--data', dataDir, '--port', '0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SELF_LOG_LEVEL: 'warn' } },
  );
  children.push(proc);
  let logs = '';
  proc.stderr!.on('data', (c: Buffer) => (logs = (logs + c.toString('utf8')).slice(-20_000)));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = '';
    const onData = (c: Buffer): void => {
      out += c.toString('utf8');
      for (const line of out.split('\n')) {
        if (line.includes('"event":"ready"')) {
          proc.stdout!.off('data', onData);
          resolve(JSON.parse(line) as Record<string, unknown>);
        }
      }
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`self up exited (${code}):\n${logs}`)));
  });
  proc.stdout!.resume();
  const url = ready.api_url as string;
  const { chain_id: chainId } = (await (await fetch(`${url}/v1/status`)).json()) as { chain_id: string };
  return { url, chainId, ready, proc };
}

/** A bare Fastify GET route (`<url>/baseline`) in its own process: the ceiling to compare with. */
export async function startBaseline(): Promise<string> {
  const server = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import Fastify from 'fastify';
       const app = Fastify();
       app.get('/baseline', async () => ({ ok: true }));
       console.log(await app.listen({ host: '127.0.0.1', port: 0 }));`,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      cwd: fileURLToPath(new URL('../../../packages/cloud/', import.meta.url)),
    },
  );
  children.push(server);
  const base = await new Promise<string>((resolve) =>
    server.stdout!.once('data', (c: Buffer) => resolve(c.toString('utf8').trim())),
  );
  return `${base}/baseline`;
}

/** The person's signed did.create, base64url, as `POST /v1/signup` takes it. */
export function signupTransaction(chainId: string, person: DeviceIdentity): string {
  const tx: Transaction<'did.create'> = {
    v: 1,
    chain_id: chainId,
    kind: 'did.create',
    nonce: 1,
    point_price: 1,
    body: {
      document: {
        root_key: person.rootPublicKey,
        encryption_key: person.encryptionPublicKey,
        delegates: [],
        services: [],
      },
    },
  };
  return Buffer.from(encodeSignedTransaction(signTransaction(tx, person.account))).toString('base64url');
}
