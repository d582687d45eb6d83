import type { Command } from 'commander';
import { encodeSignedTransaction, type SignedTransaction } from '@self/chain';
import { APP_ID_RE } from '@self/crypto';
import { NodeClient } from '@self/node/client';
import { CliError } from '../errors.js';
import { step, unlockIdentity, type CloudClient } from '../device/index.js';
import { checkAppFields, signAppRegister, signAppUpdate, type ChainTxParams } from '../app-tx.js';
import { chainApp } from '../chain-app.js';
import { DeveloperContext, oddAnswer } from '../developer-context.js';
import { developerPath, writeDeveloperFile } from '../developer-file.js';
import { addServerOption, b64url, chainIdOf, fromChain, parsePositive, TIERS, type Tier } from './signup.js';
import { wantsJson } from './status.js';

/** The cloud's developer routes (docs/cloud-api.md, "Developers"). */
const ROUTES = {
  register: '/v1/developers/register',
  apps: '/v1/developers/apps',
  update: (id: string) => `/v1/developers/apps/${encodeURIComponent(id)}/update`,
  secret: (id: string) => `/v1/developers/apps/${encodeURIComponent(id)}/secret`,
  testUsers: '/v1/developers/test-users',
};

/** A relayed app transaction commits within a few blocks. */
const RELAY_TIMEOUT_MS = 120_000;

/** An app as the developer routes answer it. */
interface DevApp {
  app_id: string;
  name: string;
  client_type: string;
  redirect_uris: string[];
  scopes: string[];
  logo_uri?: string;
  active: boolean;
  owner_did?: string;
  /** The transaction that last registered or changed it. */
  chain?: { tx_hash?: string; height?: number };
}

interface AppAnswer {
  app?: DevApp;
  client_secret?: string;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function registerDev(program: Command): void {
  const dev = program
    .command('dev')
    .summary('build on SELF: developer account, OAuth apps on chain, test users')
    .description(
      'for developers: register as one (you, the signed-in SELF person, are the developer), register ' +
        'OAuth apps on SELF Chain (signed on this device with your account key), rotate client ' +
        'secrets, and make test users on a test network. The API key and client secrets are shown once.',
    );

  addServerOption(
    dev
      .command('register')
      .description(
        `register as a developer; the API key (for your servers and CI: Authorization: Bearer …) is ` +
          `printed once and saved to $SELF_HOME/developer.json (mode 0600)`,
      )
      .option('--email <email>', 'where the SELF cloud may reach you about your apps')
      .option('--project <name>', 'what you are building'),
  ).action(async (opts: { email?: string; project?: string; server?: string }) => {
    const email = opts.email?.trim() ?? '';
    const project = opts.project?.trim() ?? '';
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email))
      throw new CliError('--email is required and must be an email address (you@example.com)', 2);
    if (project === '') throw new CliError('--project is required (the name of what you are building)', 2);
    const ctx = DeveloperContext.open({ server: opts.server });
    // The person's session, never a saved key: registering makes the key.
    const r = await ctx.person.call(
      (c) =>
        c.json<{ developer?: Record<string, unknown>; api_key?: string }>('POST', ROUTES.register, {
          json: { email, project },
        }),
      {
        exists: `you are registered already; your API key is in ${developerPath(ctx.person.home)} if this device registered`,
        conflict: `you are registered already; your API key is in ${developerPath(ctx.person.home)} if this device registered`,
      },
    );
    const developer = r?.developer ?? {};
    const apiKey = r?.api_key;
    const developerId = typeof developer.id === 'string' ? developer.id : null;
    if (typeof apiKey !== 'string' || developerId === null) throw oddAnswer(ctx.server, ROUTES.register);
    const createdAt = typeof developer.created_at === 'number' ? developer.created_at : Date.now();
    const file = writeDeveloperFile(ctx.person.home, {
      server: ctx.server,
      did: ctx.person.did,
      developer_id: developerId,
      email,
      project,
      api_key: apiKey,
      created_at: createdAt,
    });
    const out = { developer_id: developerId, did: ctx.person.did, email, project, api_key: apiKey, file };
    if (wantsJson(program)) return console.log(JSON.stringify(out));
    console.log(
      [
        `developer  ${developerId}`,
        `did        ${ctx.person.did}`,
        `project    ${project}`,
        `api key    ${apiKey}`,
      ].join('\n'),
    );
    step(
      `\nThe API key is shown only this once (the cloud keeps only its hash); a copy is in ${file}.\n` +
        'Keep it secret: it acts as you on the developer routes.',
    );
  });

  const apps = dev.command('apps').description('your OAuth apps, registered on SELF Chain');

  addTxOptions(
    apps
      .command('create')
      .description(
        'register an app on SELF Chain (app.register, signed on this device with your account key; asks ' +
          'for the passphrase) and as an OAuth client. Prints its id, which is the client_id, and for ' +
          '--confidential clients the client secret, once.',
      )
      .option('--name <name>', 'the name people see when they approve it (≤ 64 characters)')
      .option(
        '--redirect-uri <uri>',
        'where the browser returns after consent (repeatable; https, or http on a loopback host)',
        collect,
      )
      .option('--scope <scope>', 'a permission the app may ask for (repeatable; docs/scopes.md)', collect)
      .option('--logo <url>', 'the app’s logo (https; default: none)')
      .option('--confidential', 'a server-side client with a client secret (default: public, PKCE only)'),
  ).action(
    async (opts: {
      name?: string;
      redirectUri?: string[];
      scope?: string[];
      logo?: string;
      confidential?: boolean;
      price: string;
      server?: string;
    }) => {
      const price = parsePositive(opts.price, '--price');
      if (opts.name === undefined) throw new CliError('--name is required (what people see)', 2);
      const fields = checkAppFields({
        name: opts.name,
        logo_uri: opts.logo ?? '',
        redirect_uris: opts.redirectUri ?? [],
        scopes: opts.scope ?? [],
      });
      const clientType = opts.confidential === true ? 'confidential' : 'public';
      const ctx = DeveloperContext.open({ server: opts.server });
      const account = await unlock(ctx);
      const params = await txParams(ctx, price);
      const { appId, stx } = signAppRegister(ctx.person.identity.address, account, fields, params);
      step(`registering ${appId} on SELF Chain…`);
      const r = await relay(ctx, 'POST', ROUTES.apps, stx, { client_type: clientType });
      const out = {
        app_id: appId,
        client_id: appId,
        client_type: clientType,
        ...fields,
        client_secret: r.client_secret ?? null,
        tx_hash: r.app?.chain?.tx_hash ?? null,
        height: r.app?.chain?.height ?? null,
      };
      if (clientType === 'confidential' && typeof r.client_secret !== 'string')
        throw oddAnswer(ctx.server, `POST ${ROUTES.apps} (no client_secret for a confidential client)`);
      if (wantsJson(program)) return console.log(JSON.stringify(out));
      const rows: Array<[string, string]> = [
        ['app id', `${appId}  (your OAuth client_id)`],
        ['client', clientType],
        ['name', fields.name],
        ['redirects', fields.redirect_uris.join(' ')],
        ['scopes', fields.scopes.join(' ')],
      ];
      if (out.height !== null) rows.push(['height', String(out.height)]);
      if (out.client_secret !== null) rows.push(['secret', out.client_secret]);
      console.log(rows.map(([k, v]) => `${k.padEnd(10)} ${v}`).join('\n'));
      if (out.client_secret !== null)
        step(
          '\nThe client secret is shown only this once (the cloud keeps only its hash); ' +
            `\`self dev apps secret ${appId}\` makes a new one.`,
        );
    },
  );

  addServerOption(apps.command('ls').description('list your apps')).action(
    async (opts: { server?: string }) => {
      const ctx = DeveloperContext.open({ server: opts.server });
      const r = await ctx.call((c) => c.json<{ apps?: DevApp[] }>('GET', ROUTES.apps));
      if (!Array.isArray(r?.apps)) throw oddAnswer(ctx.server, `GET ${ROUTES.apps}`);
      if (wantsJson(program)) return console.log(JSON.stringify({ apps: r.apps }));
      if (r.apps.length === 0)
        return step('no apps yet: `self dev apps create --name … --redirect-uri … --scope …`');
      for (const a of r.apps) {
        console.log(
          [
            `${a.app_id}  ${a.name}  ${a.client_type}  ${a.active ? 'active' : 'inactive'}`,
            `  scopes     ${a.scopes.join(' ')}`,
            `  redirects  ${a.redirect_uris.join(' ')}`,
            ...(a.logo_uri ? [`  logo       ${a.logo_uri}`] : []),
          ].join('\n'),
        );
      }
    },
  );

  addTxOptions(
    apps
      .command('update <app-id>')
      .description(
        'change an app on SELF Chain (app.update, signed on this device). Fields not given stay as the ' +
          'chain has them; --redirect-uri and --scope, when given, replace the whole list.',
      )
      .option('--name <name>', 'a new name')
      .option('--redirect-uri <uri>', 'the redirect URIs (repeatable; replaces the list)', collect)
      .option('--scope <scope>', 'the scopes (repeatable; replaces the list)', collect)
      .option('--logo <url>', 'a new logo URL ("" for none)')
      .option('--inactive', 'deactivate the app: no new sign-ins')
      .option('--active', 'activate it again'),
  ).action(
    async (
      appId: string,
      opts: {
        name?: string;
        redirectUri?: string[];
        scope?: string[];
        logo?: string;
        inactive?: boolean;
        active?: boolean;
        price: string;
        server?: string;
      },
    ) => {
      const price = parsePositive(opts.price, '--price');
      if (opts.inactive === true && opts.active === true)
        throw new CliError('give --active or --inactive, not both', 2);
      if (!APP_ID_RE.test(appId))
        throw new CliError(
          `"${appId}" is not an app id (app_ and 32 hex digits); \`self dev apps ls\` lists yours`,
          2,
        );
      const ctx = DeveloperContext.open({ server: opts.server });
      const current = await chainApp(ctx.server, appId);
      if (current === null)
        throw new CliError(`${appId} is not on SELF Chain.\n  hint: \`self dev apps ls\` lists your apps`);
      if (current.owner !== ctx.person.identity.address)
        throw new CliError(`${appId} belongs to ${current.owner_did}, not to you (${ctx.person.did})`);
      const fields = checkAppFields({
        name: opts.name ?? current.name,
        logo_uri: opts.logo ?? current.logo_uri,
        redirect_uris: opts.redirectUri ?? current.redirect_uris,
        scopes: opts.scope ?? current.scopes,
      });
      const active = opts.inactive === true ? false : opts.active === true ? true : current.active;
      const unchanged =
        fields.name === current.name &&
        fields.logo_uri === current.logo_uri &&
        active === current.active &&
        sameList(fields.redirect_uris, current.redirect_uris) &&
        sameList(fields.scopes, current.scopes);
      if (unchanged) throw new CliError(`${appId} is already like that on SELF Chain; nothing to change`);
      const account = await unlock(ctx);
      const params = await txParams(ctx, price);
      const stx = signAppUpdate(appId, account, { ...fields, active }, params);
      step(`updating ${appId} on SELF Chain…`);
      const r = await relay(ctx, 'POST', ROUTES.update(appId), stx);
      const out = {
        app_id: appId,
        ...fields,
        active,
        tx_hash: r.app?.chain?.tx_hash ?? null,
        height: r.app?.chain?.height ?? null,
      };
      if (wantsJson(program)) return console.log(JSON.stringify(out));
      console.log(
        `updated ${appId}: ${fields.name}, ${active ? 'active' : 'inactive'}` +
          (out.height !== null ? ` (height ${out.height})` : ''),
      );
    },
  );

  addServerOption(
    apps
      .command('secret <app-id>')
      .description(
        'make a new client secret for a confidential app (the old one stops working); printed once',
      ),
  ).action(async (appId: string, opts: { server?: string }) => {
    const ctx = DeveloperContext.open({ server: opts.server });
    const r = await ctx.call(
      (c) => c.json<{ client_secret?: string }>('POST', ROUTES.secret(appId), { json: {} }),
      {
        not_found: '`self dev apps ls` lists your apps',
        invalid_request: 'only confidential clients have a secret; public clients use PKCE alone',
      },
    );
    if (typeof r?.client_secret !== 'string') throw oddAnswer(ctx.server, `POST ${ROUTES.secret(appId)}`);
    if (wantsJson(program))
      return console.log(JSON.stringify({ app_id: appId, client_secret: r.client_secret }));
    console.log(r.client_secret);
    step('the new client secret is shown only this once; the old one no longer works');
  });

  const testUser = dev
    .command('test-user')
    .description('test users (test networks only): people your test harness can sign in and drive');

  addServerOption(
    testUser
      .command('create')
      .description(
        'make a test user: a real SELF person with an instance, marked as a test user, whose keys the ' +
          'cloud holds. Prints its DID and a session token.',
      )
      .option('--tier <tier>', `storage tier: ${TIERS.join(', ')}`, 'free'),
  ).action(async (opts: { tier: string; server?: string }) => {
    if (!(TIERS as readonly string[]).includes(opts.tier))
      throw new CliError(`--tier must be one of ${TIERS.join(', ')}, got "${opts.tier}"`, 2);
    const tier = opts.tier as Tier;
    const ctx = DeveloperContext.open({ server: opts.server });
    step('making a test user (keys, DID on chain, instance)…');
    const r = await ctx.call((c) =>
      c.json<{
        did?: string;
        tier?: string;
        test?: boolean;
        session?: { token?: string; expires_at?: number };
      }>('POST', ROUTES.testUsers, { json: { tier }, timeoutMs: RELAY_TIMEOUT_MS }),
    );
    if (typeof r?.did !== 'string') throw oddAnswer(ctx.server, `POST ${ROUTES.testUsers}`);
    if (wantsJson(program)) return console.log(JSON.stringify(r));
    const rows: Array<[string, string]> = [
      ['did', r.did],
      ['tier', r.tier ?? tier],
      ['test', 'yes (never on production)'],
    ];
    if (typeof r.session?.token === 'string') rows.push(['session', r.session.token]);
    if (typeof r.session?.expires_at === 'number')
      rows.push(['until', new Date(r.session.expires_at).toISOString()]);
    console.log(rows.map(([k, v]) => `${k.padEnd(8)} ${v}`).join('\n'));
  });

  addServerOption(testUser.command('ls').description('list the test users you made')).action(
    async (opts: { server?: string }) => {
      const ctx = DeveloperContext.open({ server: opts.server });
      const r = await ctx.call((c) => c.json<Record<string, unknown>>('GET', ROUTES.testUsers));
      const list = Array.isArray(r?.test_users) ? r.test_users : Array.isArray(r?.users) ? r.users : null;
      if (list === null) throw oddAnswer(ctx.server, `GET ${ROUTES.testUsers}`);
      const users = list as Array<{ did?: string; tier?: string; created_at?: number }>;
      if (wantsJson(program)) return console.log(JSON.stringify({ test_users: users }));
      if (users.length === 0) return step('no test users yet: `self dev test-user create`');
      for (const u of users)
        console.log(
          `${u.did ?? '?'}  ${u.tier ?? ''}  ${typeof u.created_at === 'number' ? new Date(u.created_at).toISOString() : ''}`.trimEnd(),
        );
    },
  );
}

function addTxOptions(cmd: Command): Command {
  return addServerOption(
    cmd.option('--price <n>', 'point price of the chain transaction (fee per point, base units)', '1'),
  );
}

/** The account key, which signs the app's transactions; later sign-ins reuse it. */
async function unlock(ctx: DeveloperContext): Promise<import('@self/crypto').SigningKey> {
  const account = (await unlockIdentity(ctx.person.home, ctx.person.identity)).account;
  ctx.person.useAccount(account);
  return account;
}

/** The chain id and the account's next nonce, from the chain routes of the cloud. */
async function txParams(ctx: DeveloperContext, pointPrice: number): Promise<ChainTxParams> {
  const chainId = await chainIdOf(ctx.server);
  const info = await fromChain(
    new NodeClient(ctx.server, { timeoutMs: 30_000 }).account(ctx.person.identity.address),
    ctx.server,
  );
  return { chainId, nonce: Number(info.nonce) + 1, pointPrice };
}

/** Hands the signed transaction to the cloud, which relays it and waits for its commit. */
async function relay(
  ctx: DeveloperContext,
  method: string,
  path: string,
  stx: SignedTransaction,
  extra: Record<string, unknown> = {},
): Promise<AppAnswer> {
  const r = await ctx.call(
    (c: CloudClient) =>
      c.json<AppAnswer>(method, path, {
        json: { transaction: b64url(encodeSignedTransaction(stx)), ...extra },
        timeoutMs: RELAY_TIMEOUT_MS,
      }),
    { exists: 'that app id is taken (its nonce was used); run the command again' },
  );
  return r ?? {};
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
