/**
 * Full-text queries built from a person's words, never from FTS5 syntax in the input: every term is
 * a quoted string (FTS5's own quoting, `"` doubled), joined with OR, so `NEAR`, `*`, `-`, column
 * filters or an unbalanced quote in a message are just words or nothing. bm25 then ranks documents
 * that hold more of the rarer terms first.
 */

// Words as unicode61 sees them: runs of letters and digits.
const WORD_RE = /[\p{L}\p{N}]+/gu;

// Words that match nearly everything and say nothing about what the person is after.
const STOPWORDS = new Set(
  (
    'a an and are as at be but by can could did do does for from had has have he her hers him his how i ' +
    'if in into is it its me my mine no not of on or our ours she so that the their them then there these ' +
    'they this those to us was we were what when where which who whom why will with would you your yours ' +
    'about please tell know remember'
  ).split(' '),
);

export const FTS_MAX_TERMS = 32;

/** The distinct search terms of `text`, in order, at most `max`. */
export function searchTerms(text: string, max = FTS_MAX_TERMS): string[] {
  const terms = new Set<string>();
  for (const m of text.normalize('NFKC').toLowerCase().matchAll(WORD_RE)) {
    const w = m[0];
    if (STOPWORDS.has(w) || (w.length < 2 && !/\p{N}/u.test(w))) continue;
    terms.add(w);
    if (terms.size >= max) break;
  }
  return [...terms];
}

/** An FTS5 MATCH expression for `text`, or null when it holds no search terms (no hits). */
export function ftsQuery(text: string, max = FTS_MAX_TERMS): string | null {
  const terms = searchTerms(text, max);
  if (terms.length === 0) return null;
  return terms.map((t) => `"${t.replaceAll('"', '""')}"`).join(' OR ');
}
