import type { Usage as TokenUsage } from '@self/ai';
import type { MemoryItemJson, MessageJson } from './json.js';
import type { Citation, ContextReport } from './threads.js';
import type { BudgetState } from './usage.js';

/**
 * What Assistant.send yields, in this order: `start` once the person's message is stored; `context`
 * (how the history was fitted into the model's context); `citations` (the sources given to the
 * model); `delta`s of the reply; `memory` when the message created memory items; then `done`, or
 * `error` when the reply was cut short (its partial text is stored, marked incomplete).
 */
export type AssistantEvent =
  | { type: 'start'; thread_id: string; user_message: MessageJson; model: string }
  | ({ type: 'context' } & ContextReport)
  | { type: 'citations'; sources: Citation[] }
  | { type: 'delta'; content: string }
  | { type: 'memory'; items: MemoryItemJson[] }
  | { type: 'done'; message: MessageJson; usage: TokenUsage; budget: BudgetState }
  | { type: 'error'; error: string; message: string; partial_message_id: number | null };

export type AssistantEventType = AssistantEvent['type'];

/** One server-sent event: `event: <type>` and the rest of the event as JSON. */
export function sseFrame(event: AssistantEvent): string {
  const { type, ...data } = event;
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}
