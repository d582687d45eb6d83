import type { ChatMessage } from '@self/ai';
import type { MessageRole } from './threads.js';

/**
 * The prompts the assistant sends, as pure functions of what goes into them (so tests can read
 * exactly what the model is given). The system prompt says whose assistant this is, what it knows
 * about the person (memory items), which of the person's documents may help (numbered [1]..[n],
 * to be cited as [n]) and, for a long thread, the summary of its earlier part.
 */

export interface PromptSource {
  /** The number the model cites it by: [n]. */
  n: number;
  collection: string;
  key: string;
  text: string;
}

export interface PromptContext {
  /** Memory items' texts. */
  memory: string[];
  sources: PromptSource[];
  /** The summary of the thread's earlier messages, and how many it stands for. */
  summary: { text: string; messages: number } | null;
  /** Earlier messages neither summarized nor given (window mode): said, never hidden. */
  omittedMessages: number;
}

export interface PromptInput extends PromptContext {
  /** The thread's messages given in full, oldest first (the new message not included). */
  history: Array<{ role: MessageRole; content: string }>;
  /** The person's new message. */
  message: string;
}

const IDENTITY =
  'You are the private assistant of the person who owns this SELF instance. You work for them alone: ' +
  'what they tell you and what you read here stays in their instance and is never shared. ' +
  'Answer helpfully, plainly and briefly.';

export function systemPrompt(ctx: PromptContext): string {
  const parts = [IDENTITY];
  if (ctx.memory.length > 0) {
    parts.push(
      'What you remember about the person (they can see, edit and delete these):\n' +
        ctx.memory.map((m) => `- ${m}`).join('\n'),
    );
  }
  if (ctx.sources.length > 0) {
    parts.push(
      "Documents from the person's own data that may help. When you use one, cite it by its number in " +
        'square brackets, like [1]; cite only these numbers.\n\n' +
        ctx.sources.map((s) => `[${s.n}] ${s.collection}/${s.key}\n${s.text}`).join('\n\n'),
    );
  }
  if (ctx.summary !== null) parts.push(summaryBlock(ctx.summary));
  if (ctx.omittedMessages > 0) parts.push(omittedLine(ctx.omittedMessages));
  return parts.join('\n\n');
}

/** The system prompt's line that says earlier messages are left out (never hidden from the model). */
export function omittedLine(omitted: number): string {
  return `${omitted} earlier messages of this conversation are not shown to you; if the person refers to them, say so.`;
}

/** The system prompt's part that carries a thread's summary. */
export function summaryBlock(summary: { text: string; messages: number }): string {
  return `Summary of the earlier part of this conversation (${summary.messages} messages):\n${summary.text}`;
}

/** The messages of a chat completion request: system prompt, history, the new message. */
export function buildPrompt(input: PromptInput): ChatMessage[] {
  return [
    { role: 'system', content: systemPrompt(input) },
    ...input.history.map((m) => ({ role: m.role, content: m.content })),
    { role: 'user', content: input.message },
  ];
}

// Short: on a small context every token of the instruction is one less for the conversation.
const SUMMARIZER =
  'Summarize this conversation for its continuation: keep facts, decisions, names, numbers and open questions.';

/** The request that folds `messages` into the running summary `previous`. */
export function summaryPrompt(
  previous: string | null,
  messages: Array<{ role: MessageRole; content: string }>,
): ChatMessage[] {
  const transcript = messages
    .map((m) => `${m.role === 'user' ? 'Person' : 'Assistant'}: ${m.content}`)
    .join('\n\n');
  const body = (previous === null ? '' : `Summary so far:\n${previous}\n\nThen:\n`) + transcript;
  return [
    { role: 'system', content: SUMMARIZER },
    { role: 'user', content: body },
  ];
}
