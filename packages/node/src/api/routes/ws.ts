import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiApp } from '../app-types.js';
import { ApiError } from '../errors.js';
import { ERROR_RESPONSES, NoQuery } from '../schemas.js';
import type { WsHub, WsSocket } from '../ws-hub.js';

export function registerWsRoute(app: ApiApp, hub: WsHub): void {
  app.route({
    method: 'GET',
    url: '/v1/ws',
    schema: {
      tags: ['events'],
      summary: 'WebSocket: live blocks, transactions and validator changes',
      description:
        'Upgrade to a WebSocket, then send `{"op":"subscribe","channels":["blocks","transactions","validators"]}` ' +
        '(or `unsubscribe`, or `{"op":"ping"}`). The server answers `{"op":"subscribed","channels":[…]}` and ' +
        'pushes `{"channel":…,"data":…}` frames: blocks → {height, hash, round, header, tx_count}; ' +
        'transactions → {status:"pending", hash} or {status:"committed", hash, height, index, block_hash}; ' +
        'validators → the /v1/validators body (on subscribe and whenever it changes). Invalid messages get ' +
        '`{"op":"error","error":"invalid_request",…}`; a client whose send buffer overflows is closed with 1013. ' +
        'A plain GET answers 426.',
      querystring: NoQuery,
      response: { ...ERROR_RESPONSES },
    },
    handler: async (_request: FastifyRequest, reply: FastifyReply) => {
      reply.header('upgrade', 'websocket');
      throw new ApiError(426, 'upgrade_required', 'this endpoint speaks WebSocket only');
    },
    wsHandler: (socket: WsSocket) => hub.attach(socket),
  });
}
