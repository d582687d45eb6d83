/**
 * What the assistant proposes to remember from a person's message, by simple patterns rather than
 * by the model: the person asked for it ("remember that …", "please remember …", "remember: …"),
 * or stated something lasting about themselves ("my <x> is <y>", "I am …", "I like/love/prefer …").
 * Every item is stored at once and shown in the reply (the `memory` event), where the person can
 * edit or delete it: the assistant learns only what the person can see.
 */

export const MEMORY_MAX_CHARS = 1000;
/** Most items one message proposes; a long paste is not a list of facts about the person. */
const MAX_PER_MESSAGE = 5;
/** Self-statements longer than this are narration, not a fact to keep. */
const STATEMENT_MAX_CHARS = 200;

// "remember that …", "please remember …", "remember: …" (with a polite lead-in or not). A bare
// "remember to …" is a reminder, not something to know about the person: not matched.
const EXPLICIT_RES = [
  /^(?:(?:ok|okay|also|and|oh)[,\s]+)*(?:(?:can|could|would|will) you\s+)?(?:please\s+)?remember\s+that\s+(.+)$/iu,
  /^(?:(?:ok|okay|also|and|oh)[,\s]+)*(?:please|pls)[,\s]+remember\s*:?\s+(.+)$/iu,
  /^(?:(?:ok|okay|also|and|oh)[,\s]+)*remember\s*:\s*(.+)$/iu,
];
const MY_X_IS_RE = /^my\s+[\p{L}\p{N}'’ -]{1,40}?\s+(?:is|are|was)\s+\S.*$/iu;
const I_AM_RE = /^(?:i am|i'm|i’m)\s+(\p{L}+)/iu;
const I_LIKE_RE = /^i\s+(?:really\s+|also\s+|do\s+)?(?:like|love|prefer|enjoy)\s+\S.*$/iu;

// "I'm …" that says how the person is right now, not who they are.
const TRANSIENT = new Set(
  (
    'not sure wondering trying going looking asking thinking just so very sorry confused curious afraid ' +
    'glad happy here back done fine ok okay good having getting doing working planning about still also ' +
    'currently really'
  ).split(' '),
);

function clean(text: string): string {
  const t = text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[.!,;:]+$/u, '')
    .trim();
  return t.length === 0 ? t : t[0]!.toUpperCase() + t.slice(1);
}

/** The key that makes two items the same item: case and spacing do not count. */
export function memoryNorm(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[.!]+$/u, '');
}

function sentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+|\n+/u)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function proposal(sentence: string): string | null {
  for (const re of EXPLICIT_RES) {
    const m = re.exec(sentence);
    if (m !== null) return clean(m[1]!);
  }
  if (sentence.endsWith('?') || sentence.length > STATEMENT_MAX_CHARS) return null;
  if (MY_X_IS_RE.test(sentence) || I_LIKE_RE.test(sentence)) return clean(sentence);
  const iAm = I_AM_RE.exec(sentence);
  if (iAm !== null && !TRANSIENT.has(iAm[1]!.toLowerCase())) return clean(sentence);
  return null;
}

/** The memory items a message proposes, in order, without duplicates. */
export function proposeMemories(message: string): string[] {
  const out = new Map<string, string>();
  for (const sentence of sentences(message)) {
    const item = proposal(sentence);
    if (item === null || item.length < 3 || item.length > MEMORY_MAX_CHARS) continue;
    out.set(memoryNorm(item), item);
    if (out.size >= MAX_PER_MESSAGE) break;
  }
  return [...out.values()];
}
