import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { signConsent, type ConsentFields, type SigningKey } from '@self/crypto';
import { CliError } from '../errors.js';
import { PersonContext, readSession, sessionUsable, step, unlockIdentity } from '../device/index.js';
import {
  checkRequest,
  requestPath,
  verifyRequest,
  type CheckedRequest,
  type ConsentRequest,
} from '../consent-request.js';
import { GRANT_MAX_MS, GRANT_MIN_MS, parseDuration, relativeTime, shortDate } from '../durations.js';
import { scopeInWords } from '../scope-words.js';
import { addServerOption, b64url } from './signup.js';
import { wantsJson } from './status.js';

const CONSENT_HINTS: Record<string, string> = {
  not_found: '`self consent ls` lists the requests waiting for you; check the code the app shows',
  request_expired: 'requests last 10 minutes: start the sign-in in the app again for a new code',
  forbidden: 'this request was claimed by another person; the app should start a new one for you',
  request_decided: 'the request was already approved or denied; the app can start a new one',
  conflict: 'the request was already approved or denied; the app can start a new one',
  invalid_consent:
    'run the command again; if it keeps failing, the cloud and this device disagree on the consent format',
};

/** What the approve and deny routes answer. */
interface DecisionResponse {
  redirect_to?: string;
  grant?: Record<string, unknown>;
}

interface NodeOption {
  node?: string;
  server?: string;
}

function addNodeCheckOption(cmd: Command): Command {
  return addServerOption(
    cmd.option(
      '--node <url>',
      'check the app against this SELF node’s chain state (default: the chain routes of --server)',
    ),
  );
}

/**
 * `self consent ls|show|approve|deny`: the person's side of OAuth. An app's sign-in page shows a
 * code; here the person reads what the app asks for, checked against SELF Chain, and approves it
 * by signing a consent statement with their own account key on this device, which their instance
 * verifies before it lets the app in. Nothing the cloud says alone can grant access.
 */
export function registerConsent(program: Command): void {
  const consent = program
    .command('consent')
    .summary('see, approve or deny apps asking for access to your SELF')
    .description(
      'when an app asks to reach your SELF, its sign-in page shows a code like ABCD-EFGH. Here you see ' +
        'the app (checked on SELF Chain) and what it asks for in plain words, then approve (signed on ' +
        'this device with your account key; asks for the passphrase) or deny. `self apps` lists and ' +
        'revokes what you approved.',
    );

  addServerOption(consent.command('ls').description('list the requests waiting for your decision')).action(
    async (opts: { server?: string }) => {
      const ctx = PersonContext.open({ server: opts.server });
      const r = await ctx.call(
        (c) => c.json<{ requests?: ConsentRequest[] }>('GET', '/v1/consent/requests'),
        CONSENT_HINTS,
      );
      const requests = Array.isArray(r?.requests) ? r.requests : [];
      if (wantsJson(program)) return console.log(JSON.stringify({ requests }));
      if (requests.length === 0)
        return step(
          'no requests are waiting for you (a code from an app’s page: `self consent show ABCD-EFGH`)',
        );
      for (const q of requests) {
        const scopes = (q.scopes ?? []).map((s) => s.scope).join(' ');
        console.log(
          `${q.user_code}  ${q.app?.name ?? '?'} (${q.app?.app_id ?? '?'})  ${scopes}  expires ${relativeTime(q.expires_at)}`,
        );
      }
      step('(details: self consent show <code>; then self consent approve|deny <code>)');
    },
  );

  addNodeCheckOption(
    consent
      .command('show <code>')
      .description(
        'show a request (by the code the app’s page shows, or its id): the app as SELF Chain has it, ' +
          'each permission in plain words, where the browser returns. Claims the request for you.',
      ),
  ).action(async (ref: string, opts: NodeOption) => {
    const ctx = PersonContext.open({ server: opts.server });
    const checked = await fetchChecked(ctx, ref, opts.node);
    if (wantsJson(program)) return console.log(JSON.stringify(jsonOf(checked)));
    console.log(describe(checked));
    step(
      `(approve: self consent approve ${checked.request.user_code}; deny: self consent deny ${checked.request.user_code})`,
    );
  });

  addNodeCheckOption(
    consent
      .command('approve <code>')
      .description(
        'approve a request: shows it, asks y/N (or --yes), then signs the consent with your account key ' +
          'on this device (asks for the passphrase) and hands it to your instance through the cloud. ' +
          'The app’s page then continues by itself.',
      )
      .option('--expires <duration>', 'how long the access lasts: 1h to 400d, e.g. 12h, 2w, 90d', '90d')
      .option('--yes', 'approve without asking (needed when standard input is not a terminal)'),
  ).action(async (ref: string, opts: NodeOption & { expires: string; yes?: boolean }) => {
    const lifetime = parseDuration(opts.expires, '--expires', GRANT_MIN_MS, GRANT_MAX_MS);
    if (opts.yes !== true && process.stdin.isTTY !== true)
      throw new CliError(
        'standard input is not a terminal, so there is no one to ask: read the request with ' +
          '`self consent show <code>`, then approve it with `self consent approve <code> --yes`',
        2,
      );
    const ctx = PersonContext.open({ server: opts.server });
    // One passphrase prompt, not two: when a sign-in is due anyway, unlock now and reuse the key.
    let account: SigningKey | null = null;
    if (!sessionUsable(readSession(ctx.home), ctx.server, ctx.did)) {
      account = (await unlockIdentity(ctx.home, ctx.identity)).account;
      ctx.useAccount(account);
    }
    const checked = await fetchChecked(ctx, ref, opts.node);
    const { request } = checked;
    if (!wantsJson(program) || opts.yes !== true) process.stderr.write(`${describe(checked)}\n\n`);
    if (opts.yes !== true) {
      const until = shortDate(Date.now() + lifetime);
      if (!(await confirm(`Allow ${request.app.name} this access until ${until}? [y/N] `)))
        throw new CliError(
          `not approved. The request stays open until it expires; \`self consent deny ${request.user_code}\` ` +
            'tells the app now',
        );
    }
    if (account === null) {
      account = (await unlockIdentity(ctx.home, ctx.identity)).account;
      ctx.useAccount(account);
    }
    const signer = account;
    const issuedAt = Date.now();
    const fields: ConsentFields = {
      origin: request.origin,
      did: ctx.did,
      grant: request.grant_id,
      app: request.app.app_id,
      // The statement's grammar: sorted ascending, no duplicates.
      scopes: [...new Set(request.scopes.map((s) => s.scope))].sort(),
      issuedAt,
      expiresAt: issuedAt + lifetime,
    };
    let signature: Uint8Array;
    try {
      signature = signConsent(signer, fields);
    } catch (err) {
      throw new CliError(`cannot sign this consent: ${(err as Error).message}`);
    }
    step('approving: your instance checks the signed consent…');
    const r = await ctx.call(
      (c) =>
        c.json<DecisionResponse>('POST', requestPath(request.id, 'approve'), {
          json: {
            public_key: b64url(signer.publicKey),
            signature: b64url(signature),
            issued_at: fields.issuedAt,
            expires_at: fields.expiresAt,
          },
          timeoutMs: 60_000,
        }),
      CONSENT_HINTS,
    );
    const out = {
      approved: true,
      request_id: request.id,
      app_id: request.app.app_id,
      grant_id: request.grant_id,
      scopes: fields.scopes,
      issued_at: fields.issuedAt,
      expires_at: fields.expiresAt,
      grant: r?.grant ?? null,
      redirect_to: r?.redirect_to ?? null,
    };
    if (wantsJson(program)) return console.log(JSON.stringify(out));
    console.log(
      `approved: ${request.app.name} may use ${fields.scopes.join(' ')} until ${shortDate(fields.expiresAt)} ` +
        `(grant ${request.grant_id})`,
    );
    if (out.redirect_to !== null) console.log(`the app's page continues by itself to:\n  ${out.redirect_to}`);
    step('(`self apps ls` lists what you approved; `self apps revoke <grant>` takes it back)');
  });

  addServerOption(
    consent
      .command('deny <code>')
      .description('refuse a request: the app’s page returns to the app with access_denied'),
  ).action(async (ref: string, opts: { server?: string }) => {
    const ctx = PersonContext.open({ server: opts.server });
    const r = await ctx.call(
      (c) => c.json<DecisionResponse>('POST', requestPath(ref, 'deny'), { json: {} }),
      CONSENT_HINTS,
    );
    const out = { denied: true, request: ref, redirect_to: r?.redirect_to ?? null };
    if (wantsJson(program)) return console.log(JSON.stringify(out));
    console.log(
      `denied${out.redirect_to !== null ? `; the app's page returns to:\n  ${out.redirect_to}` : ''}`,
    );
  });
}

async function fetchChecked(
  ctx: PersonContext,
  ref: string,
  node: string | undefined,
): Promise<CheckedRequest> {
  const raw = await ctx.call((c) => c.json<unknown>('GET', requestPath(ref)), CONSENT_HINTS);
  const request = checkRequest(ctx.server, raw);
  if (request.status !== undefined && request.status !== 'pending')
    throw new CliError(`this request is already ${request.status}; the app can start a new one`);
  return verifyRequest(ctx.server, node ?? ctx.server, request);
}

function jsonOf({ request, chain }: CheckedRequest): Record<string, unknown> {
  return {
    ...request,
    scopes: request.scopes.map((s) => ({ scope: s.scope, description: scopeInWords(s.scope) })),
    chain: {
      verified: true,
      owner: chain.owner,
      owner_did: chain.owner_did,
      active: chain.active,
      created_height: chain.created_height,
      updated_height: chain.updated_height,
    },
  };
}

/** The request as the person reads it before deciding. */
function describe({ request, chain }: CheckedRequest): string {
  const lines = [
    `${chain.name} asks to reach your SELF  (request ${request.user_code})`,
    '',
    `  app       ${chain.name}  (${chain.app_id})`,
    `  owner     ${chain.owner_did}`,
    `  logo      ${chain.logo_uri === '' ? '(none)' : chain.logo_uri}`,
    `  on chain  verified: registered at height ${chain.created_height}, last changed at height ${chain.updated_height}`,
    '',
    '  it may:',
    ...request.scopes.map((s) => `    - ${scopeInWords(s.scope)}  [${s.scope}]`),
    '',
    `  returns to  ${request.redirect_uri}`,
    `  expires     ${relativeTime(request.expires_at)} (${shortDate(request.expires_at)})`,
  ];
  return lines.join('\n');
}

/** y/N on the terminal; anything but y or yes is no. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(question);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
