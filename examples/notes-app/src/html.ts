/** HTML for the notes app: plain strings, every interpolated value escaped. */

/** Escapes text for HTML content and attribute values. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.4rem}textarea,input[type=text]{width:100%;box-sizing:border-box;font:inherit;padding:.4rem}
button,.button{font:inherit;padding:.4rem .9rem;border:1px solid #888;border-radius:6px;background:#f4f4f6;color:inherit;text-decoration:none;cursor:pointer}
.note{border-left:3px solid #7a5cff;padding:.2rem .8rem;margin:.6rem 0;white-space:pre-wrap}.muted{color:#666;font-size:.9rem}
.error{background:#fff0f0;border:1px solid #e99;padding:.6rem;border-radius:6px}.answer{white-space:pre-wrap;background:#f6f6fa;padding:.8rem;border-radius:6px}`;

/** The top of every page (also sent alone before a streamed answer). */
export function head(title: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head><body><h1>${esc(title)}</h1>`;
}

/** The end of every page. */
export const FOOT = `</body></html>`;

/** A whole page. */
export function page(title: string, body: string): string {
  return `${head(title)}${body}${FOOT}`;
}

/** A POST form with the visitor's CSRF token. */
export function form(action: string, csrf: string, inner: string): string {
  return `<form method="post" action="${esc(action)}"><input type="hidden" name="csrf" value="${esc(csrf)}">${inner}</form>`;
}
