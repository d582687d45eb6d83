import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newRecoveryPhrase } from '@self/crypto';
import { generatePeerKey, initTestnet, loadHome, writeHome, type TestnetNode } from '../../src/index.js';
import { NodeProcess, editConfig } from '../../src/testing/node-process.js';

const BIN = fileURLToPath(new URL('../../../cli/bin/self.js', import.meta.url));

export interface ProcessTestnet {
  dir: string;
  infos: TestnetNode[];
  nodes: NodeProcess[];
  /** A non-validator node home with the same genesis, bootstrapping from every validator. */
  addFollower(port: number, p2pPort: number): NodeProcess;
  cleanup(): Promise<void>;
}

/** `self testnet init` in a temp dir, tuned for tests: Ed25519 keys, one verify thread, no rate limit. */
export async function makeTestnet(
  validators: number,
  opts: { chainId: string; byzantine?: Record<number, string>; host?: string } = { chainId: 'self-test-1' },
): Promise<ProcessTestnet> {
  const dir = mkdtempSync(join(tmpdir(), 'self-testnet-'));
  const infos = await initTestnet({
    validators,
    out: dir,
    chainId: opts.chainId,
    scheme: 'ed25519',
    basePort: 0,
    ...(opts.host ? { host: opts.host } : {}),
  });
  for (const info of infos) {
    editConfig(info.home, (c) => {
      c.verify_threads = 1;
      (c.api as Record<string, unknown>).rate_limit = { max: 1_000_000, window_ms: 1_000 };
    });
  }
  const nodes = infos.map(
    (info, i) =>
      new NodeProcess(BIN, info.home, info.api_url, {
        ...(opts.byzantine?.[i] ? { extraArgs: ['--byzantine', opts.byzantine[i]!] } : {}),
      }),
  );
  const all: NodeProcess[] = [...nodes];
  return {
    dir,
    infos,
    nodes,
    addFollower(port, p2pPort) {
      const genesis = loadHome(infos[0]!.home).genesis;
      const home = join(dir, 'follower');
      writeHome(home, {
        config: {
          moniker: 'follower',
          p2p: { listen: [`/ip4/127.0.0.1/tcp/${p2pPort}`], bootstrap: infos.map((i) => i.p2p_addr) },
          api: { host: '127.0.0.1', port, rate_limit: { max: 1_000_000, window_ms: 1_000 } },
          verify_threads: 1,
        },
        genesis,
        validatorPhrase: newRecoveryPhrase(),
        peerKey: generatePeerKey(),
      });
      const p = new NodeProcess(BIN, home, `http://127.0.0.1:${port}`);
      all.push(p);
      return p;
    },
    async cleanup() {
      await Promise.all(all.map((n) => n.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
