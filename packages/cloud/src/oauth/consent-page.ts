import { randomBytes } from 'node:crypto';
import type { AppView } from './clients.js';

/** Text for HTML: the five characters that could start markup or end an attribute. */
export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** JSON inside a <script>: `<` escaped so no value can close the element. */
const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c');

export interface Page {
  html: string;
  /** The Content-Security-Policy that goes with it (nonces are per page). */
  csp: string;
}

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#111}
.app{display:flex;gap:1rem;align-items:center}.app img{width:56px;height:56px;border-radius:12px}
.ok{color:#06603a}.warn{color:#8a1c1c}code,.code{font-family:ui-monospace,monospace}
.code{font-size:2rem;letter-spacing:.15em;margin:.5rem 0}li{margin:.3rem 0}small{color:#555}`;

/**
 * Security headers of both pages: nothing loads but the page itself (and the app's logo, from its
 * own origin), nothing frames it, and no referrer carries the authorization URL elsewhere.
 */
function csp(nonce: string, imgOrigin: string | null, connect: boolean): string {
  return [
    "default-src 'none'",
    `style-src 'nonce-${nonce}'`,
    connect ? `script-src 'nonce-${nonce}'` : "script-src 'none'",
    connect ? "connect-src 'self'" : "connect-src 'none'",
    `img-src ${imgOrigin ?? "'none'"}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function logoOrigin(logo: string): string | null {
  if (logo === '') return null;
  try {
    return new URL(logo).origin;
  } catch {
    return null;
  }
}

/**
 * The authorization page (no external assets): the app as the chain registers it, each scope in
 * plain words, and the code to approve it with on the person's device. Its script polls for the
 * decision with a secret only this page holds, then follows the redirect.
 */
export function consentPage(p: {
  requestId: string;
  poll: string;
  userCode: string;
  app: AppView;
  scopes: Array<{ scope: string; description: string }>;
}): Page {
  const nonce = randomBytes(16).toString('base64');
  const img = logoOrigin(p.app.logo_uri);
  const logo = img ? `<img src="${escapeHtml(p.app.logo_uri)}" alt="">` : '';
  const verified = p.app.verified_on_chain
    ? `<span class="ok">Verified on SELF Chain</span> (registered at height ${p.app.height})`
    : `<span class="warn">Not verified on SELF Chain: do not approve unless you trust it</span>`;
  const scopes = p.scopes
    .map((s) => `<li>${escapeHtml(s.description)} <small><code>${escapeHtml(s.scope)}</code></small></li>`)
    .join('');
  const pollUrl = `requests/${encodeURIComponent(p.requestId)}?poll=${encodeURIComponent(p.poll)}`;
  const script = `(function(){var u=${scriptJson(pollUrl)},s=document.getElementById('status');
function tick(){fetch(u,{headers:{accept:'application/json'},cache:'no-store'}).then(function(r){return r.ok?r.json():null}).then(function(b){
if(b&&b.redirect_to){s.textContent=b.status==='approved'?'Approved. Returning to the app…':'Refused. Returning to the app…';location.replace(b.redirect_to);return}
if(b&&b.status==='expired'){s.textContent='This request expired. Start again from the app.';return}
setTimeout(tick,2000)},function(){setTimeout(tick,4000)})}tick()})();`;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Allow ${escapeHtml(p.app.name)}? · SELF</title>
<style nonce="${nonce}">${STYLE}</style></head><body>
<div class="app">${logo}<div><h1>${escapeHtml(p.app.name)}</h1><div>${verified}</div>
<small>Owner <code>${escapeHtml(p.app.owner_did)}</code> · app <code>${escapeHtml(p.app.app_id)}</code></small></div></div>
<p>This app asks to:</p><ul>${scopes}</ul>
<p>To decide, open SELF on your device and enter this code:</p>
<div class="code">${escapeHtml(p.userCode)}</div>
<p>or run <code>self consent approve ${escapeHtml(p.userCode)}</code> (or <code>self consent deny ${escapeHtml(p.userCode)}</code>).</p>
<p id="status" role="status">Waiting for your decision…</p>
<script nonce="${nonce}">${script}</script>
</body></html>`;
  return { html, csp: csp(nonce, img, true) };
}

/** An error the authorization endpoint shows instead of redirecting (unknown client, unregistered redirect URI). */
export function errorPage(title: string, message: string): Page {
  const nonce = randomBytes(16).toString('base64');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)} · SELF</title>
<style nonce="${nonce}">${STYLE}</style></head><body>
<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>
<p><small>You were not sent back to the app, because SELF could not confirm where it should send you.</small></p>
</body></html>`;
  return { html, csp: csp(nonce, null, false) };
}
