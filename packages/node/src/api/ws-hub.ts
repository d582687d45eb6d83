import { decodeSignedTransaction, txHash, type Block } from '@self/chain';
import type { ApiNode, NodeEvent } from '../node-api.js';
import { WS_CHANNELS, type BlockEventJson, type WsChannel } from './schemas.js';
import { headerJson, hex } from './serialize.js';
import { validatorsJson } from './views.js';

/**
 * WebSocket fan-out of node events. Protocol (JSON text frames):
 *
 *   client → {"op":"subscribe","channels":["blocks","transactions","validators"]}
 *            {"op":"unsubscribe","channels":[…]}   {"op":"ping"}
 *   server → {"op":"subscribed"|"unsubscribed","channels":[current subscriptions]}   {"op":"pong"}
 *            {"channel":"blocks","data":BlockEventJson}
 *            {"channel":"transactions","data":{"status":"pending","hash"}}
 *            {"channel":"transactions","data":{"status":"committed","hash","height","index","block_hash"}}
 *            {"channel":"validators","data":ValidatorsJson}   (on subscribe, then whenever it changes)
 *            {"op":"error","error":"invalid_request","message","details"}
 *
 * A bad client message gets an error frame and the connection stays up: closing would only make
 * the client reconnect and repeat. A client that cannot keep up (send buffer over the bound) is
 * closed with 1013, since it would miss events anyway and must resynchronize over REST.
 */

/** The part of a `ws` WebSocket the hub uses (the `ws` package ships no types here). */
export interface WsSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(): void;
  on(event: 'message', listener: (data: unknown, isBinary: boolean) => void): unknown;
  on(event: 'close' | 'pong', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

export interface WsHubOptions {
  /** Open connections at most; more are closed with 1013 (default 1000). */
  maxConnections: number;
  /** Bytes queued to one client beyond which it is dropped as too slow (default 4 MiB). */
  maxBufferedBytes: number;
  /** Interval of keep-alive pings; a client that missed the previous one is terminated (default 30 s). */
  pingIntervalMs: number;
}

export const DEFAULT_WS_OPTIONS: WsHubOptions = {
  maxConnections: 1000,
  maxBufferedBytes: 4 * 1024 * 1024,
  pingIntervalMs: 30_000,
};

const OPEN = 1;
/** WebSocket close codes (RFC 6455 §7.4.1 and the IANA registry). */
const TRY_AGAIN_LATER = 1013;
const GOING_AWAY = 1001;

interface Connection {
  socket: WsSocket;
  channels: Set<WsChannel>;
  alive: boolean;
}

export class WsHub {
  private readonly connections = new Set<Connection>();
  private queue: NodeEvent[] = [];
  private flushScheduled = false;
  private lastValidators: string | null = null;
  private readonly pingTimer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly node: ApiNode,
    private readonly opts: WsHubOptions,
    private readonly onClientError: (code: string) => void,
  ) {
    this.pingTimer = setInterval(() => this.heartbeat(), opts.pingIntervalMs);
    this.pingTimer.unref();
  }

  get size(): number {
    return this.connections.size;
  }

  attach(socket: WsSocket): void {
    if (this.closed || this.connections.size >= this.opts.maxConnections) {
      socket.close(TRY_AGAIN_LATER, 'too many connections');
      return;
    }
    const conn: Connection = { socket, channels: new Set(), alive: true };
    this.connections.add(conn);
    socket.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    socket.on('pong', () => {
      conn.alive = true;
    });
    socket.on('close', () => this.connections.delete(conn));
    // Socket errors (resets, protocol violations) end in 'close'; nothing to answer.
    socket.on('error', () => this.connections.delete(conn));
  }

  /** Called for every node event; the work happens after the caller (consensus) has moved on. */
  publish(event: NodeEvent): void {
    if (this.connections.size === 0) return;
    this.queue.push(event);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.pingTimer);
    for (const conn of this.connections) conn.socket.close(GOING_AWAY, 'server shutting down');
    this.connections.clear();
    this.queue = [];
  }

  // ---- client messages --------------------------------------------------------------------------

  private onMessage(conn: Connection, data: unknown, isBinary: boolean): void {
    const request = isBinary ? null : parseClientMessage(data);
    if (!request || 'error' in request) {
      this.onClientError('invalid_request');
      this.send(conn, {
        op: 'error',
        error: 'invalid_request',
        message: request?.error ?? 'expected a JSON text frame',
        details: { ops: ['subscribe', 'unsubscribe', 'ping'], channels: WS_CHANNELS },
      });
      return;
    }
    if (request.op === 'ping') {
      this.send(conn, { op: 'pong' });
      return;
    }
    const added: WsChannel[] = [];
    for (const channel of request.channels) {
      if (request.op === 'subscribe') {
        if (!conn.channels.has(channel)) added.push(channel);
        conn.channels.add(channel);
      } else {
        conn.channels.delete(channel);
      }
    }
    this.send(conn, {
      op: request.op === 'subscribe' ? 'subscribed' : 'unsubscribed',
      channels: [...conn.channels],
    });
    // A fresh validators subscriber gets the current set at once, not only at the next change.
    if (added.includes('validators')) this.send(conn, { channel: 'validators', data: this.validatorsNow() });
  }

  // ---- events out -------------------------------------------------------------------------------

  private flush(): void {
    this.flushScheduled = false;
    const events = this.queue;
    this.queue = [];
    if (this.closed) return;
    for (const event of events) {
      if (event.type === 'tx') {
        this.broadcast('transactions', () => ({ status: 'pending', hash: hex(event.hash) }));
      } else {
        this.onBlock(event.block, event.hash, event.round);
      }
    }
  }

  private onBlock(block: Block, hash: Uint8Array, round: number): void {
    const data: BlockEventJson = {
      height: block.header.height,
      hash: hex(hash),
      round,
      header: headerJson(block.header),
      tx_count: block.txs.length,
    };
    this.broadcast('blocks', () => data);
    if (this.hasSubscribers('transactions')) {
      const blockHash = data.hash;
      block.txs.forEach((bytes, index) => {
        const txHashHex = hex(txHash(decodeSignedTransaction(bytes)));
        this.broadcast('transactions', () => ({
          status: 'committed',
          hash: txHashHex,
          height: data.height,
          index,
          block_hash: blockHash,
        }));
      });
    }
    if (this.hasSubscribers('validators')) {
      const now = this.validatorsNow();
      const text = JSON.stringify(now);
      if (text !== this.lastValidators) {
        this.lastValidators = text;
        this.broadcast('validators', () => now);
      }
    }
  }

  private validatorsNow() {
    return validatorsJson(this.node.chain);
  }

  private hasSubscribers(channel: WsChannel): boolean {
    for (const conn of this.connections) if (conn.channels.has(channel)) return true;
    return false;
  }

  /** Serializes a frame once, only if someone listens, and sends it to every subscriber. */
  private broadcast(channel: WsChannel, data: () => unknown): void {
    let frame: string | null = null;
    for (const conn of this.connections) {
      if (!conn.channels.has(channel)) continue;
      frame ??= JSON.stringify({ channel, data: data() });
      this.sendText(conn, frame);
    }
  }

  private send(conn: Connection, message: unknown): void {
    this.sendText(conn, JSON.stringify(message));
  }

  private sendText(conn: Connection, text: string): void {
    if (conn.socket.readyState !== OPEN) return;
    if (conn.socket.bufferedAmount + text.length > this.opts.maxBufferedBytes) {
      this.connections.delete(conn);
      this.onClientError('slow_consumer');
      conn.socket.close(TRY_AGAIN_LATER, 'send buffer full');
      return;
    }
    conn.socket.send(text);
  }

  private heartbeat(): void {
    for (const conn of this.connections) {
      if (!conn.alive) {
        this.connections.delete(conn);
        conn.socket.terminate();
        continue;
      }
      conn.alive = false;
      conn.socket.ping();
    }
  }
}

type ClientMessage =
  { op: 'subscribe' | 'unsubscribe'; channels: WsChannel[] } | { op: 'ping' } | { error: string };

const MAX_CLIENT_MESSAGE = 4096;

/** Strict parse of a client frame: exact keys, known ops and channels, no duplicates. */
export function parseClientMessage(data: unknown): ClientMessage {
  const text = frameText(data);
  if (text === null) return { error: 'expected a JSON text frame' };
  if (text.length > MAX_CLIENT_MESSAGE)
    return { error: `messages are limited to ${MAX_CLIENT_MESSAGE} bytes` };
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return { error: 'message is not valid JSON' };
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg))
    return { error: 'expected a JSON object' };
  const o = msg as Record<string, unknown>;
  if (o.op === 'ping') {
    return Object.keys(o).length === 1 ? { op: 'ping' } : { error: 'ping takes no other fields' };
  }
  if (o.op !== 'subscribe' && o.op !== 'unsubscribe') {
    return { error: 'op must be "subscribe", "unsubscribe" or "ping"' };
  }
  const keys = Object.keys(o);
  if (keys.length !== 2 || !keys.includes('channels'))
    return { error: `${o.op} takes exactly: op, channels` };
  const channels = o.channels;
  if (!Array.isArray(channels) || channels.length === 0 || channels.length > WS_CHANNELS.length) {
    return { error: `channels must be a non-empty array of ${WS_CHANNELS.join(', ')}` };
  }
  const out: WsChannel[] = [];
  for (const c of channels) {
    if (typeof c !== 'string' || !(WS_CHANNELS as readonly string[]).includes(c)) {
      return { error: `unknown channel; channels are ${WS_CHANNELS.join(', ')}` };
    }
    if (!out.includes(c as WsChannel)) out.push(c as WsChannel);
  }
  return { op: o.op, channels: out };
}

function frameText(data: unknown): string | null {
  if (typeof data === 'string') return data;
  if (data instanceof Uint8Array)
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  if (Array.isArray(data) && data.every((d) => d instanceof Uint8Array)) {
    return Buffer.concat(data as Uint8Array[]).toString('utf8');
  }
  return null;
}
