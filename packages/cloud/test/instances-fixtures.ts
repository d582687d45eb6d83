import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { didFromAddress, encodeAddress, generateHybridKemKeyPair } from '@self/crypto';
import type { InstanceSpec } from '../src/instances/index.js';

/** A person to provision for: a random DID and a fresh encryption key pair (no chain involved). */
export function newPerson(overrides: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    did: didFromAddress(encodeAddress(new Uint8Array(randomBytes(20)))),
    tier: 'free',
    mode: 'always-on',
    personEncryptionKey: generateHybridKemKeyPair().publicKey,
    ...overrides,
  };
}

export const personHeaders = (did: string): Record<string, string> => ({
  'x-self-actor': 'person',
  'x-self-did': did,
});

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

const NODE = realpathSync(process.execPath);

/**
 * The host pid of the node process that runs the instance: `pid` itself without a sandbox, the
 * node process bubblewrap started under it otherwise.
 */
export function instanceNodePid(pid: number): number {
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    try {
      if (readlinkSync(`/proc/${p}/exe`) === NODE) return p;
    } catch {
      // gone, or not ours to read
    }
    queue.push(...children(p));
  }
  throw new Error(`no node process under pid ${pid}`);
}

export function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Polls `check` every 25 ms until it is true (or throws after `ms`). */
export async function until(
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
