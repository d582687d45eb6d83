import type { Usage as TokenUsage } from '@self/ai';
import type { InferencePort } from './connection.js';
import { fromInferenceFailure, isAiError, isInferenceFailure } from './errors.js';
import type { ModelInfo, TemplateOverhead } from './models.js';
import { omittedLine, summaryBlock, summaryPrompt } from './prompt.js';
import type { AiState } from './state.js';
import type { ContextMode, ContextReport, MessageRecord, MessageSize, ThreadRecord } from './threads.js';

/**
 * Fitting a thread into the model's context without ever truncating it silently. The newest
 * messages go in whole; when the rest does not fit, the oldest part is summarized by the model (a
 * non-streamed, metered completion), the summary is stored on the thread (summary + summary_upto)
 * and reused, and extended, by later messages. When summarizing fails the newest messages that fit
 * are given alone (a window). Either way the plan says what happened (ContextReport), the
 * assistant sends it as the `context` event and stores it with the reply.
 */

export interface ContextPlan {
  report: ContextReport;
  /** The summary the prompt carries, or null. */
  summary: { text: string; messages: number } | null;
  /** Messages before the history that are neither given nor summarized. */
  omitted: number;
  /** Messages given in full, oldest first. */
  history: MessageRecord[];
  /** Why summarizing failed (window mode), for the note. */
  why?: string;
}

export interface PlanInput {
  state: AiState;
  client: InferencePort;
  models: ModelInfo;
  model: string;
  contextLength: number;
  /** Tokens kept free for the reply. */
  reserve: number;
  overhead: TemplateOverhead;
  thread: ThreadRecord;
  /** The person's new message (already stored): the history is what precedes it. */
  newMessageId: number;
  /** Tokens of everything else in the prompt: the system prompt without summary, the new message, the template. */
  fixedTokens: number;
  /** Meters a summarizing completion. */
  meter: (usage: TokenUsage) => void;
}

type Summary = { text: string; messages: number };

/** A summary is written in at most this many tokens (less on a small context). */
const SUMMARY_MAX_TOKENS = 400;
/** Tokens of the blank line that joins a part to the rest of the system prompt, with margin. */
const JOIN_TOKENS = 4;
/** Summarizing rounds one message may cost; older messages beyond them are left out (and said). */
const MAX_SUMMARY_ROUNDS = 3;
/** The labels and spacing of a message (or of the running summary) in a summarizing prompt. */
const LABEL_TOKENS = 16;

function sum(sizes: MessageSize[], perMessage: number): number {
  return sizes.reduce((n, s) => n + s.tokens + perMessage, 0);
}

/** The newest messages whose cost fits in `budget`. */
function newestFitting(sizes: MessageSize[], perMessage: number, budget: number): MessageSize[] {
  let used = 0;
  let start = sizes.length;
  while (start > 0) {
    const cost = sizes[start - 1]!.tokens + perMessage;
    if (used + cost > budget) break;
    used += cost;
    start--;
  }
  return sizes.slice(start);
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** The `context` event's note: what the model is given and what is left out. */
export function contextNote(
  mode: ContextMode,
  given: number,
  summarized: number,
  omitted: number,
  why?: string,
): string {
  const left =
    omitted > 0 ? `; ${count(omitted, 'earlier message')} ${omitted === 1 ? 'is' : 'are'} left out` : '';
  const newest =
    given === 0 ? 'none of the messages before this one' : `the newest ${count(given, 'message')}`;
  switch (mode) {
    case 'full':
      return given === 0
        ? 'this is the first message of the thread'
        : `the whole thread (${count(given, 'earlier message')}) fits in the model's context`;
    case 'summary':
      return `the model gets a summary of ${count(summarized, 'earlier message')} and ${newest} in full${left}`;
    case 'window':
      return (
        `${why === undefined ? '' : `summarizing the older messages failed (${why}); `}` +
        `the model sees ${given === 0 ? newest : `only ${newest}`}` +
        `${summarized > 0 ? ` and the stored summary of ${count(summarized, 'older message')}` : ''}${left}`
      );
  }
}

export async function planContext(input: PlanInput): Promise<ContextPlan> {
  const { state, thread, overhead } = input;
  const per = overhead.perMessage;
  const budget = input.contextLength - input.reserve - input.fixedTokens;
  const after = thread.summaryUpto ?? 0;
  const sizes = state.threads.sizesAfter(thread.id, after).filter((s) => s.id < input.newMessageId);
  const stored: Summary | null =
    thread.summary === null ? null : { text: thread.summary, messages: thread.summaryMessages };
  const priorOmitted =
    thread.summaryUpto === null ? 0 : state.threads.countUpTo(thread.id, after) - thread.summaryMessages;
  const tokens = async (text: string): Promise<number> =>
    (await input.models.tokens(input.model, text)) + JOIN_TOKENS;
  const summaryCost = stored === null ? 0 : await tokens(summaryBlock(stored));
  // Whatever is left out is said in the system prompt, which costs its line.
  const lineCost = (omitted: number): Promise<number> =>
    omitted === 0 ? Promise.resolve(0) : tokens(omittedLine(omitted));

  /** The newest of `candidates` that fit beside `summaryTokens`, and what that leaves out. */
  const fit = async (candidates: MessageSize[], summaryTokens: number, omittedBefore: number) => {
    let given = newestFitting(candidates, per, budget - summaryTokens);
    let omitted = omittedBefore + candidates.length - given.length;
    if (omitted > 0) {
      given = newestFitting(given, per, budget - summaryTokens - (await lineCost(omitted)));
      omitted = omittedBefore + candidates.length - given.length;
    }
    return { given, omitted };
  };

  if (sum(sizes, per) + summaryCost + (await lineCost(priorOmitted)) <= budget) {
    return finish(input, stored === null ? 'full' : 'summary', sizes, stored, priorOmitted);
  }

  const available = input.contextLength - input.reserve;
  const summaryTokens = Math.max(16, Math.min(SUMMARY_MAX_TOKENS, Math.floor(available / 6)));
  const heading = await tokens(summaryBlock({ text: '', messages: sizes.length }));
  const window = newestFitting(sizes, per, budget - summaryTokens - heading - (await lineCost(sizes.length)));
  const toFold = sizes.slice(0, sizes.length - window.length);
  try {
    const folded = await summarize(input, stored?.text ?? null, toFold, summaryTokens);
    const summary = { text: folded.text, messages: (stored?.messages ?? 0) + folded.summarized };
    state.threads.setSummary(thread.id, summary.text, folded.upto, summary.messages);
    // The messages the summary did not reach, and those a longer summary than planned crowds out,
    // are left out this time (and folded in next time).
    const unreached = sizes.filter((s) => s.id > folded.upto);
    const { given, omitted } = await fit(
      unreached,
      await tokens(summaryBlock(summary)),
      priorOmitted + folded.omitted,
    );
    return finish(input, 'summary', given, summary, omitted);
  } catch (err) {
    const why =
      isAiError(err) || isInferenceFailure(err) ? fromInferenceFailure(err).code : (err as Error).message;
    // Keep the stored summary while it leaves room; the messages it does not cover are left out.
    const keep = stored !== null && summaryCost < budget / 2 ? stored : null;
    const dropped = stored !== null && keep === null ? stored.messages : 0;
    const { given, omitted } = await fit(sizes, keep === null ? 0 : summaryCost, priorOmitted + dropped);
    return finish(input, 'window', given, keep, omitted, why);
  }
}

function finish(
  input: PlanInput,
  mode: ContextMode,
  given: MessageSize[],
  summary: Summary | null,
  omitted: number,
  why?: string,
): ContextPlan {
  const first = given[0];
  const last = given.at(-1);
  const history =
    first === undefined || last === undefined
      ? []
      : input.state.threads.range(input.thread.id, first.id, last.id);
  const summarized = summary?.messages ?? 0;
  return {
    report: {
      mode,
      omitted_messages: omitted,
      summarized_messages: summarized,
      note: contextNote(mode, history.length, summarized, omitted, why),
    },
    summary,
    omitted,
    history,
    ...(why !== undefined ? { why } : {}),
  };
}

/**
 * Folds `toFold` into `previous`, oldest first, in rounds that each fit the model's context (each
 * round measured against the running summary as it actually is). Returns the new summary, how many
 * messages it summarizes anew, how many older ones were left out (more than MAX_SUMMARY_ROUNDS
 * could take), how many newer ones it did not reach (`pending`: folded in next time), and the last
 * message id it stands for.
 */
async function summarize(
  input: PlanInput,
  previous: string | null,
  toFold: MessageSize[],
  outTokens: number,
): Promise<{ text: string; summarized: number; omitted: number; pending: number; upto: number }> {
  if (toFold.length === 0) throw new Error('the stored summary alone fills the context');
  const per = input.overhead.perMessage;
  const [frame, previousTokens] = await Promise.all([
    input.models.chatTokens(input.model, summaryPrompt('', [])),
    previous === null ? 0 : input.models.tokens(input.model, previous),
  ]);
  // A round's prompt: the frame, the running summary with its labels, and a chunk of messages,
  // with outTokens left for the new summary.
  const roomWith = (summaryTokens: number): number =>
    input.contextLength -
    outTokens -
    frame -
    (summaryTokens === 0 ? 0 : summaryTokens + LABEL_TOKENS) -
    2 * per;
  const costOf = (s: MessageSize, room: number): number =>
    Math.min(s.tokens, room - LABEL_TOKENS) + LABEL_TOKENS;
  const firstRoom = roomWith(previousTokens);
  const laterRoom = roomWith(outTokens);
  if (firstRoom < 2 * LABEL_TOKENS) throw new Error('the context is too small to summarize in');

  // What MAX_SUMMARY_ROUNDS rounds can take, counted from the newest: older messages beyond it
  // are left out (and said), so a first summary of a very long thread costs a few rounds, not one
  // per page of its history.
  const capacity = firstRoom + (MAX_SUMMARY_ROUNDS - 1) * Math.max(0, laterRoom);
  let start = toFold.length;
  for (let used = 0; start > 0; start--) {
    const cost = costOf(toFold[start - 1]!, firstRoom);
    if (used + cost > capacity) break;
    used += cost;
  }
  if (start === toFold.length) start--; // at least the newest one
  const queue = toFold.slice(start);
  const omitted = start;

  let text = previous;
  let textTokens = previousTokens;
  let summarized = 0;
  let upto: number | null = null;
  for (let round = 0; round < MAX_SUMMARY_ROUNDS && queue.length > 0; round++) {
    const room = roomWith(textTokens);
    if (room < 2 * LABEL_TOKENS) break;
    const take: MessageSize[] = [];
    let size = 0;
    while (queue.length > 0 && (take.length === 0 || size + costOf(queue[0]!, room) <= room)) {
      size += costOf(queue[0]!, room);
      take.push(queue.shift()!);
    }
    const records = input.state.threads.range(input.thread.id, take[0]!.id, take.at(-1)!.id);
    const messages = records.map((m) => ({
      role: m.role,
      // A message larger than a round is summarized from its beginning.
      content:
        m.tokens <= room - LABEL_TOKENS
          ? m.content
          : m.content.slice(0, Math.floor((m.content.length * (room - LABEL_TOKENS)) / m.tokens)),
    }));
    const reply = await input.client.chat({
      model: input.model,
      messages: summaryPrompt(text, messages),
      max_tokens: outTokens,
      temperature: 0.2,
    });
    input.meter(reply.usage);
    const out = reply.choices[0]?.message.content.trim() ?? '';
    if (out.length === 0) throw new Error('the model wrote an empty summary');
    text = out;
    textTokens = await input.models.tokens(input.model, out);
    summarized += records.length;
    upto = take.at(-1)!.id;
  }
  if (upto === null || text === null) throw new Error('the context is too small to summarize in');
  return { text, summarized, omitted, pending: queue.length, upto };
}
