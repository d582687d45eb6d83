import type { ConsensusTransport, WireMessage } from './transport.js';

type Handler = (msg: WireMessage, from: string) => void;

/**
 * An in-process message bus for validators that share one process (`self up` before libp2p).
 * Delivery is asynchronous (setImmediate), so a node never re-enters its own handler while
 * broadcasting, exactly as over a real network.
 */
export class LocalNetwork {
  private readonly handlers = new Map<string, Handler>();

  join(id: string, handler: Handler): ConsensusTransport {
    this.handlers.set(id, handler);
    return {
      broadcast: (msg) => {
        for (const [peer, h] of this.handlers) if (peer !== id) setImmediate(() => h(msg, id));
      },
      send: (peer, msg) => {
        const h = this.handlers.get(peer);
        if (h && peer !== id) setImmediate(() => h(msg, id));
      },
      peers: () => [...this.handlers.keys()].filter((p) => p !== id),
    };
  }

  leave(id: string): void {
    this.handlers.delete(id);
  }
}
