import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createCloud, type Cloud, type CloudOptions } from '../../src/gateway.js';
import { LocalProvisioner } from '../../src/instances/index.js';
import type { TestChain } from './chain.js';

export const PUBLIC_URL = 'http://cloud.test';

export interface TestCloud {
  cloud: Cloud;
  /** Where the gateway listens (127.0.0.1, a free port). */
  url: string;
  dataDir: string;
  provisioner: LocalProvisioner;
  close(): Promise<void>;
}

/**
 * The real instance manager: one process per instance on a Unix socket (sandboxed where the host
 * has bubblewrap), no anchoring (these tests do not delegate instance keys).
 */
export function testProvisioner(root: string): LocalProvisioner {
  return new LocalProvisioner({ root, hostKey: randomBytes(32), chain: null, publicUrl: PUBLIC_URL });
}

/** A gateway on 127.0.0.1 over a real chain and a provisioner of real instances. */
export async function startTestCloud(
  chain: TestChain,
  extra: Partial<Omit<CloudOptions, 'provisioner' | 'chain' | 'dataDir'>> = {},
): Promise<TestCloud> {
  const root = mkdtempSync(join(tmpdir(), 'self-cloud-'));
  const dataDir = join(root, 'cloud');
  const provisioner = testProvisioner(join(root, 'i'));
  const cloud = createCloud({
    dataDir,
    provisioner,
    chain: { client: chain.client, chainId: chain.chainId, sponsor: chain.faucet, pointPrice: 1 },
    publicUrl: PUBLIC_URL,
    logger: false,
    ...extra,
  });
  const url = await cloud.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    cloud,
    url,
    dataDir,
    provisioner,
    close: async () => {
      await cloud.close();
      await provisioner.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** A JSON request to the gateway; the body is parsed when it is JSON. */
export async function call(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; json?: unknown; body?: Uint8Array | string; headers?: Record<string, string> } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | Uint8Array | undefined = opts.body;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = { text };
  }
  return { status: res.status, headers: res.headers, body: parsed };
}
