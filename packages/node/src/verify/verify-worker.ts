import { parentPort, workerData } from 'node:worker_threads';
import { checkChunk } from './check-chunk.js';
import type { ChunkRequest, WorkerInit, WorkerMessage } from './protocol.js';

// Runs inside a VerifyPool worker thread (loaded through worker-entry.mjs).
const port = parentPort;
if (!port) throw new Error('verify-worker.ts runs only as a worker thread of VerifyPool');
const { ctx } = workerData as WorkerInit;

port.on('message', (req: ChunkRequest) => {
  const { digests, failures } = checkChunk(req, ctx);
  const reply: WorkerMessage = { type: 'result', id: req.id, digests, failures };
  port.postMessage(reply);
});
port.postMessage({ type: 'ready' } satisfies WorkerMessage);
