import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { PersonContext, step, type CloudClient } from '../device/index.js';
import { relativeTime, shortDate } from '../durations.js';
import { addServerOption } from './signup.js';
import { wantsJson } from './status.js';

/** One app the person granted access, as `self apps ls` shows it. */
export interface MyApp {
  grant_id: string;
  app_id: string;
  name: string;
  scopes: string[];
  state: string;
  issued_at: number | null;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
}

const APPS_HINTS: Record<string, string> = {
  not_found: '`self apps ls` lists your grants and their ids',
};

/**
 * `self apps ls|revoke`: the apps the person let in (grants their instance holds, signed on their
 * device) and taking that access back, which their instance enforces at once.
 */
export function registerApps(program: Command): void {
  const apps = program
    .command('apps')
    .summary('list the apps you let in, and revoke their access')
    .description(
      'the apps you approved with `self consent approve`: what each may do, until when, when it last ' +
        'used it. Revoking takes effect at once: your instance refuses the app’s tokens from then on.',
    );

  addServerOption(
    apps
      .command('ls')
      .description('list your grants: app, permissions, granted/expires, last used, state')
      .option('--active', 'only grants that are still active'),
  ).action(async (opts: { server?: string; active?: boolean }) => {
    const ctx = PersonContext.open({ server: opts.server });
    let list = await listMyApps(ctx);
    if (opts.active === true) list = list.filter((a) => a.state === 'active');
    if (wantsJson(program)) return console.log(JSON.stringify({ apps: list }));
    if (list.length === 0)
      return step('no apps have access to your SELF (an app asks through `self consent`)');
    for (const a of list) console.log(formatApp(a));
  });

  addServerOption(
    apps
      .command('revoke <grant-or-app>')
      .description(
        'revoke a grant (gr_…) at once; with an app id (app_…), every active grant of that app. ' +
          'The app’s access and refresh tokens stop working immediately.',
      ),
  ).action(async (target: string, opts: { server?: string }) => {
    if (!target.startsWith('app_') && !target.startsWith('gr_'))
      throw new CliError(
        `"${target}" is neither a grant id (gr_…) nor an app id (app_…); \`self apps ls\` lists both`,
        2,
      );
    const ctx = PersonContext.open({ server: opts.server });
    let grants: string[];
    if (target.startsWith('app_')) {
      grants = (await listMyApps(ctx))
        .filter((a) => a.app_id === target && a.state === 'active')
        .map((a) => a.grant_id);
      if (grants.length === 0)
        throw new CliError(
          `${target} has no active grant from you, so there is nothing to revoke.\n  hint: \`self apps ls\` lists your grants`,
        );
    } else {
      grants = [target];
    }
    const revoked: Array<Record<string, unknown>> = [];
    for (const id of grants) {
      const r = await ctx.call(
        (c: CloudClient) =>
          c.json<{ grant?: Record<string, unknown> }>(
            'POST',
            `/v1/me/apps/${encodeURIComponent(id)}/revoke`,
            { json: {} },
          ),
        APPS_HINTS,
      );
      const grant = r?.grant ?? { id };
      revoked.push(grant);
      const appId = typeof grant.app_id === 'string' ? ` (${grant.app_id})` : '';
      if (!wantsJson(program)) console.log(`revoked ${id}${appId}: its tokens no longer work`);
    }
    if (wantsJson(program)) console.log(JSON.stringify({ revoked }));
  });
}

/** GET /v1/me/apps, each grant with its app's name. */
export async function listMyApps(ctx: PersonContext): Promise<MyApp[]> {
  const r = await ctx.call((c) => c.json<Record<string, unknown>>('GET', '/v1/me/apps'), APPS_HINTS);
  const items = Array.isArray(r?.apps) ? r.apps : Array.isArray(r?.grants) ? r.grants : null;
  if (items === null)
    throw new CliError(`${ctx.server} answered GET /v1/me/apps oddly; is the cloud up to date?`);
  return items.map(normalize).filter((a): a is MyApp => a !== null);
}

const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * One listed grant: the instance's grant JSON (docs/instance-api.md) joined with the app, either
 * flat (`{id, app_id, …, app: {name, …}}`) or nested (`{grant: {…}, app: {…}}`).
 */
function normalize(item: unknown): MyApp | null {
  if (typeof item !== 'object' || item === null) return null;
  const o = item as Record<string, unknown>;
  const grant = (typeof o.grant === 'object' && o.grant !== null ? o.grant : o) as Record<string, unknown>;
  const app = (typeof o.app === 'object' && o.app !== null ? o.app : {}) as Record<string, unknown>;
  const grantId = str(grant.id) ?? str(grant.grant_id) ?? str(o.grant_id);
  const appId = str(grant.app_id) ?? str(app.app_id);
  if (grantId === null || appId === null) return null;
  const scopes = Array.isArray(grant.scopes)
    ? grant.scopes.filter((s): s is string => typeof s === 'string')
    : typeof grant.scopes === 'string'
      ? grant.scopes.split(' ').filter((s) => s !== '')
      : [];
  return {
    grant_id: grantId,
    app_id: appId,
    name: str(app.name) ?? str(o.name) ?? str(o.app_name) ?? appId,
    scopes,
    state: str(grant.state) ?? 'unknown',
    issued_at: num(grant.issued_at) ?? num(grant.created_at),
    expires_at: num(grant.expires_at),
    last_used_at: num(grant.last_used_at),
    revoked_at: num(grant.revoked_at),
  };
}

function formatApp(a: MyApp): string {
  const when = (ms: number | null): string => (ms === null ? '-' : shortDate(ms));
  const expires =
    a.state === 'revoked'
      ? `revoked ${when(a.revoked_at)}`
      : a.expires_at === null
        ? 'no expiry'
        : `${a.state === 'expired' ? 'expired' : 'expires'} ${when(a.expires_at)}`;
  return [
    `${a.name}  (${a.app_id})  ${a.state}`,
    `  may       ${a.scopes.join(' ')}`,
    `  granted   ${when(a.issued_at)}; ${expires}`,
    `  last used ${a.last_used_at === null ? 'never' : relativeTime(a.last_used_at)}`,
    `  grant     ${a.grant_id}`,
  ].join('\n');
}
