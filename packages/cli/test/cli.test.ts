import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accountKeysFromPhrase } from '@self/crypto';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/self.js', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function self(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface BlockLine {
  height: number;
  hash: string;
  round: number;
  txs: number;
  proposer: string;
}

/**
 * Runs `self up --json` until `blocks` blocks are printed, then sends SIGTERM. `onReady` runs with
 * the API URL before the blocks are awaited.
 */
function up(
  dataDir: string,
  blocks: number,
  onReady: (apiUrl: string) => Promise<void> = async () => undefined,
): Promise<{ lines: BlockLine[]; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    // The chain and the cloud only: the AI's part of `self up` has its own test (cli-chat.test.ts).
    const child = spawn(
      process.execPath,
      [BIN, '--json', 'up', '--data', dataDir, '--port', '0', '--no-ai'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const lines: BlockLine[] = [];
    let ready: Promise<void> | null = null;
    let buffer = '';
    let stopping = false;
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!line.trim()) continue;
        const parsed = JSON.parse(line) as BlockLine | { event: 'ready'; api_url: string };
        if ('event' in parsed) ready = onReady(parsed.api_url);
        else lines.push(parsed);
      }
      // Blocks may print before the ready line (three validators can commit while the fourth starts).
      if (lines.length >= blocks && ready && !stopping) {
        stopping = true;
        ready.then(
          () => child.kill('SIGTERM'),
          (err: unknown) => {
            child.kill('SIGTERM');
            reject(err as Error);
          },
        );
      }
    });
    child.on('error', reject);
    // 'close', not 'exit': stdout may still hold the last block lines when the process exits.
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-8000)));
    child.on('close', (code) => resolve({ lines, code, stderr }));
  });
}

describe('self keys', () => {
  it('`keys new` prints a fresh 24-word phrase with its address and DID as JSON', () => {
    const r = self(['keys', 'new']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as {
      recovery_phrase: string;
      address: string;
      did: string;
      scheme: string;
    };
    expect(out.recovery_phrase.split(' ')).toHaveLength(24);
    expect(out.address).toMatch(/^self[a-z0-9]{39}$/);
    expect(out.did).toBe(`did:self:${out.address}`);
    expect(out.scheme).toBe('hybrid-ed25519-ml-dsa-65');
    expect(accountKeysFromPhrase(out.recovery_phrase).address).toBe(out.address);
    expect(self(['keys', 'new']).stdout).not.toBe(r.stdout);
  });

  it('`keys show` derives the same identity from the phrase on stdin, and refuses a bad phrase', () => {
    const created = JSON.parse(self(['keys', 'new', '--scheme', 'ed25519']).stdout) as {
      recovery_phrase: string;
      address: string;
    };
    const shown = self(['keys', 'show', '--scheme', 'ed25519'], `${created.recovery_phrase}\n`);
    expect(shown.status).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ address: created.address, scheme: 'ed25519' });
    expect(JSON.parse(shown.stdout)).not.toHaveProperty('recovery_phrase');
    const bad = self(['keys', 'show'], 'abandon abandon abandon\n');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('not a valid 24-word recovery phrase');
  });

  it('rejects unknown options and values with a usage error', () => {
    const r = self(['keys', 'new', '--scheme', 'rsa']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown scheme "rsa"');
    expect(self(['frobnicate']).status).not.toBe(0);
    expect(self(['up', '--port', '70000']).stderr).toContain('--port must be 0-65535');
  });

  it('--help lists the commands', () => {
    const r = self(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('keys');
    expect(r.stdout).toContain('up');
  });
});

describe('self up', () => {
  it('runs a local 4-validator chain on libp2p with its API, stops on SIGTERM, and resumes from disk', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'self-up-test-'));
    dirs.push(dataDir);
    let status: { chain_id: string; node_info: { peer_count: number } } | undefined;
    const first = await up(dataDir, 3, async (apiUrl) => {
      // Four nodes: the API's node sees the other three as libp2p peers once they have dialled in.
      for (let i = 0; i < 100; i++) {
        status = (await (await fetch(`${apiUrl}/v1/status`)).json()) as typeof status;
        if (status!.node_info.peer_count >= 3) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    expect(status?.chain_id).toBe('self-local-1');
    expect(status?.node_info.peer_count).toBeGreaterThanOrEqual(3);
    expect(first.code, first.stderr).toBe(0);
    expect(first.lines.slice(0, 3).map((l) => l.height)).toEqual([1, 2, 3]);
    for (const l of first.lines) expect(l.hash).toMatch(/^[0-9a-f]{64}$/);
    // Validator keys are private to the operator.
    expect(statSync(join(dataDir, 'testnet', 'node0', 'keys', 'validator.phrase')).mode & 0o077).toBe(0);
    expect(statSync(join(dataDir, 'testnet', 'node0', 'keys', 'peer.key')).mode & 0o077).toBe(0);

    const second = await up(dataDir, 1);
    expect(second.code, second.stderr).toBe(0);
    const last = first.lines[first.lines.length - 1]!.height;
    expect(second.lines[0]!.height).toBe(last + 1);
  }, 180_000);
});
