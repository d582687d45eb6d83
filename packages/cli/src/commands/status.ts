import type { Command } from 'commander';
import { NodeApiError, NodeClient } from '@self/node/client';
import { CliError } from '../errors.js';

/** Where commands find a node when --node is not given. */
export const DEFAULT_NODE_URL = 'http://127.0.0.1:8080';

export function defaultNodeUrl(): string {
  return process.env.SELF_NODE || DEFAULT_NODE_URL;
}

/** The `--node <url>` option every command that talks to a node takes. */
export function addNodeOption(cmd: Command): Command {
  return cmd.option(
    '--node <url>',
    'HTTP API of the SELF node (default: $SELF_NODE or http://127.0.0.1:8080)',
  );
}

/** A client for --node (or the default), with a usage error (exit 2) for a URL that is not one. */
export function nodeClient(url: string | undefined): NodeClient {
  const target = url ?? defaultNodeUrl();
  try {
    return new NodeClient(target);
  } catch {
    throw new CliError(`--node must be an http:// or https:// URL, got "${target}"`, 2);
  }
}

export function wantsJson(program: Command): boolean {
  return program.opts<{ json?: boolean }>().json === true;
}

/** What to try next for the node's error codes people meet most. */
const HINTS: Record<string, string> = {
  unreachable:
    'start a node (`self node --home DIR` or `self up`) or point at one with --node URL or SELF_NODE',
  timeout: 'the node may be overloaded; try again, or another node with --node',
  bad_response: 'is --node the URL of a SELF node API?',
  bad_nonce: 'another transaction from this account used that nonce; omit --nonce to use the next one',
  nonce_too_high: 'earlier nonces of this account are missing; omit --nonce to use the next one',
  replacement_underpriced: 'a pending transaction has this nonce; raise --price to replace it, or wait',
  insufficient_funds:
    'the balance does not cover amount + fee; on a testnet, `self tx faucet --to <address>`',
  point_price_too_low: 'raise --price',
  wrong_chain: 'the transaction was signed for another chain than this node serves',
  bad_signature: 'the transaction was altered after signing, or signed with another key',
  scheme_not_allowed: 'this chain does not accept that key scheme; try --scheme',
  duplicate: 'the node already has this transaction; look it up by its hash',
  mempool_full: 'the node is busy; retry later or raise --price',
  service_unavailable: 'the node is busy; retry later',
  rate_limit_exceeded: 'too many requests; wait and retry',
  not_found: 'the node does not know it (yet)',
};

/** Node and connection failures as one-line CLI errors: `<message> (<code>)`, then a hint. */
export function cliErrorFromNode(err: unknown): unknown {
  if (!(err instanceof NodeApiError)) return err;
  // A refused transaction says why in the chain's own code; other errors in the API's.
  const code = err.chainCode ?? err.code;
  let hint = HINTS[code];
  if (err.retryAfter !== undefined) hint = `${hint ?? 'retry later'} (retry after ${err.retryAfter} s)`;
  return new CliError(`${err.message} (${code})${hint ? `\n  hint: ${hint}` : ''}`, 1);
}

/** Runs a node request, turning its failures into CLI errors. */
export async function fromNode<T>(request: Promise<T>): Promise<T> {
  try {
    return await request;
  } catch (err) {
    throw cliErrorFromNode(err);
  }
}

export function registerStatus(program: Command): void {
  addNodeOption(
    program
      .command('status')
      .description("show a SELF node's chain, latest block, peers and sync state (--json: the raw status)"),
  ).action(async (opts: { node?: string }) => {
    const client = nodeClient(opts.node);
    const status = await fromNode(client.status());
    if (wantsJson(program)) console.log(JSON.stringify(status));
    else console.log(formatStatus(status, client.baseUrl));
  });
}

type NodeStatus = Awaited<ReturnType<NodeClient['status']>>;

function formatStatus(s: NodeStatus, url: string): string {
  const rows: Array<[string, string]> = [
    ['node', `${s.node_info.moniker} (v${s.node_info.version}) at ${url}`],
    ['chain', s.chain_id],
    ['height', String(s.latest_block.height)],
    ['hash', s.latest_block.hash],
    ['time', formatTime(s.latest_block.timestamp)],
    ['peers', String(s.node_info.peer_count)],
    ['syncing', s.node_info.syncing ? 'yes' : 'no'],
    ['validator', s.node_info.validator ?? 'no'],
    ['mempool', `${s.mempool.size} txs, ${s.mempool.bytes} bytes`],
  ];
  return rows.map(([k, v]) => `${k.padEnd(10)} ${v}`).join('\n');
}

function formatTime(t: unknown): string {
  if (typeof t === 'number' && Number.isFinite(t)) return new Date(t).toISOString();
  return String(t);
}
