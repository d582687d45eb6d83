import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { SELFClient, SELFError, type SELFSession } from '@self/sdk';
import { readConfig } from './config.js';
import { FOOT, esc, form, head, page } from './html.js';
import { forget, visitorOf, type Visitor } from './visitors.js';

/**
 * The notes app: "Sign in with SELF" → the person approves it → /callback exchanges the code on
 * this server → the app keeps notes in its own namespace of the person's instance, asks the
 * person's private AI, and disconnects (revokes its grant). node:http and @self/sdk only.
 */
const config = readConfig(process.argv.slice(2), process.env);
const redirectUri = `${config.publicUrl}/callback`;
const client = new SELFClient({
  appId: config.appId,
  environment: { baseUrl: config.selfUrl },
  redirectUri,
  ...(config.clientSecret !== undefined ? { clientSecret: config.clientSecret } : {}),
});

const NOTES = 'notes'; // a collection of the app's own namespace (scopes storage:read / storage:write)
const CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'";

function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP });
  res.end(html);
}

function redirect(res: ServerResponse, to: string): void {
  res.writeHead(303, { location: to });
  res.end();
}

async function formOf(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > 64 * 1024) throw new SELFError('INVALID_REQUEST', 'that form is too large');
  }
  return new URLSearchParams(body);
}

/** What a SELFError means to the person using the app. */
function explain(err: unknown): string {
  if (!(err instanceof SELFError)) return 'Something went wrong; the details are in the server log.';
  switch (err.code) {
    case 'PERMISSION_DENIED':
      return `SELF refused: ${err.message}. (Did the app ask for this scope, and did you approve it?)`;
    case 'QUOTA_EXCEEDED':
      return `Your SELF storage or AI budget is used up: ${err.message}`;
    case 'RATE_LIMITED':
      return `Too many requests; try again in ${err.retryAfter ?? 'a few'} seconds.`;
    case 'AI_UNAVAILABLE':
      return `Your private AI cannot answer now: ${err.message}`;
    case 'NETWORK_ERROR':
      return `The SELF cloud at ${config.selfUrl} cannot be reached. Is \`npm start\` running?`;
    case 'UNAUTHENTICATED':
      return 'Your SELF session ended (the app was disconnected or the grant expired). Sign in again.';
    default:
      return `${err.code}: ${err.message}`;
  }
}

function errorPage(res: ServerResponse, v: Visitor | undefined, err: unknown): void {
  if (!(err instanceof SELFError) || err.code === 'SERVER_ERROR') console.error(err);
  // A session that ended (revoked in SELF, grant expired) is dropped, so "Back" offers sign-in again.
  if (v !== undefined && err instanceof SELFError && err.code === 'UNAUTHENTICATED') v.session = undefined;
  send(
    res,
    200,
    page('Notes', `<p class="error">${esc(explain(err))}</p><p><a class="button" href="/">Back</a></p>`),
  );
}

async function home(res: ServerResponse, v: Visitor): Promise<void> {
  const s = v.session;
  if (s === undefined) {
    send(
      res,
      200,
      page(
        'Notes',
        `<p>Your notes, kept in <em>your</em> SELF instance, encrypted, and an assistant that is yours too.</p>
<p><a class="button" href="/login">Sign in with SELF</a></p>
<p class="muted">This app asks for: ${config.scopes.map(esc).join(', ')}.</p>`,
      ),
    );
    return;
  }
  // The profile is a nicety: without it (no profile:read, no name set) the DID stands in.
  const name = s.hasScope('profile:read') ? ((await s.profile().catch(() => null))?.name ?? null) : null;
  const notes = s.storage.appCollection(NOTES);
  // Keys are timestamps in byte order, oldest first: the newest 20 are the last 20.
  const listed = await notes.list({ limit: 1000 });
  const items = await Promise.all(
    listed.items
      .slice(-20)
      .reverse()
      .map(async (i) => ({ key: i.key, note: await notes.get<{ text: string }>(i.key) })),
  );
  const list = items
    .map((i) => `<div class="note">${esc(i.note?.text ?? '')}<div class="muted">${esc(i.key)}</div></div>`)
    .join('');
  send(
    res,
    200,
    page(
      'Notes',
      `<p>Signed in as <strong>${esc(name ?? s.did)}</strong>${name !== null ? ` <span class="muted">${esc(s.did)}</span>` : ''}.</p>
${form('/notes', v.csrf, '<textarea name="text" rows="3" required placeholder="A note"></textarea><p><button>Save note</button></p>')}
<h2>Your notes</h2>${list === '' ? '<p class="muted">None yet.</p>' : list}
<h2>Ask your AI</h2>
${form('/ask', v.csrf, '<input type="text" name="q" required placeholder="Help me plan my day"><p><button>Ask</button></p>')}
<h2>Disconnect</h2>
${form('/disconnect', v.csrf, '<p class="muted">Revokes this app\'s grant in your instance: it loses access at once.</p><button>Disconnect from SELF</button>')}`,
    ),
  );
}

/** Streams the AI's answer into the page as it is generated. */
async function ask(res: ServerResponse, s: SELFSession, question: string): Promise<void> {
  const stop = new AbortController();
  res.on('close', () => stop.abort()); // the browser went away: stop generating
  const stream = s.ai.chatStream({
    message: question,
    context: 'a notes app; answer briefly',
    signal: stop.signal,
  });
  // The first delta (or the refusal) before the 200, so a refusal still gets the error page.
  const first = await stream.next();
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP });
  res.write(`${head('Notes')}<p><strong>You:</strong> ${esc(question)}</p><div class="answer">`);
  try {
    for (let r = first; r.done !== true; r = await stream.next()) res.write(esc(r.value));
    res.write('</div>');
  } catch (err) {
    res.write(`</div><p class="error">${esc(explain(err))}</p>`);
  }
  res.end(`<p><a class="button" href="/">Back</a></p>${FOOT}`);
}

async function handle(req: IncomingMessage, res: ServerResponse, v: Visitor): Promise<void> {
  const url = new URL(req.url ?? '/', config.publicUrl);
  if (req.method === 'GET' && url.pathname === '/') return home(res, v);
  if (req.method === 'GET' && url.pathname === '/login') {
    const a = await client.authorizationUrl({ permissions: config.scopes });
    v.pending = { state: a.state, codeVerifier: a.codeVerifier, redirectUri: a.redirectUri };
    return redirect(res, a.url);
  }
  if (req.method === 'GET' && url.pathname === '/callback') {
    const pending = v.pending;
    if (pending === undefined) return redirect(res, '/'); // no sign-in started in this browser
    v.pending = undefined; // one use
    v.session = await client.handleRedirect(url.href, { pending, tokenStore: v.tokens });
    return redirect(res, '/');
  }
  if (req.method === 'POST') {
    const f = await formOf(req);
    if (f.get('csrf') !== v.csrf)
      return send(res, 403, page('Notes', '<p class="error">Stale form; reload.</p>'));
    const s = v.session;
    if (s === undefined) return redirect(res, '/');
    if (url.pathname === '/notes') {
      const text = (f.get('text') ?? '').trim();
      if (text !== '') {
        // Keys sort newest last: a timestamp, then randomness so two notes in one millisecond differ.
        const key = `${new Date().toISOString()}-${Math.random().toString(36).slice(2, 8)}`;
        await s.storage.appCollection(NOTES).save({ key, value: { text }, encrypted: true });
      }
      return redirect(res, '/');
    }
    if (url.pathname === '/ask') return ask(res, s, (f.get('q') ?? '').trim() || 'Say hello');
    if (url.pathname === '/disconnect') {
      try {
        await s.revoke();
      } finally {
        forget(v);
        res.setHeader('set-cookie', 'notes_sid=; Max-Age=0; Path=/');
      }
      return send(
        res,
        200,
        page(
          'Notes',
          '<p>Disconnected: this app can no longer reach your instance.</p><p><a class="button" href="/">Start over</a></p>',
        ),
      );
    }
  }
  send(res, 404, page('Not found', '<p><a href="/">Home</a></p>'));
}

const server = createServer((req, res) => {
  // Cookies belong to one host: keep everyone on the public URL, or the callback finds no sign-in.
  if (req.headers.host !== new URL(config.publicUrl).host) {
    return redirect(res, `${config.publicUrl}${new URL(req.url ?? '/', config.publicUrl).pathname}`);
  }
  const v = visitorOf(req, res);
  handle(req, res, v).catch((err: unknown) => {
    if (res.headersSent) return void res.end();
    errorPage(res, v, err);
  });
});
server.listen(config.port, '127.0.0.1', () => {
  console.log(`notes app on ${config.publicUrl} (SELF cloud ${config.selfUrl}, app ${config.appId})`);
  console.log(`redirect URI (register it exactly): ${redirectUri}`);
});
