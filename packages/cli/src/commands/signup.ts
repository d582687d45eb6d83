import type { Command } from 'commander';
import {
  fromHex,
  identityFromPhrase,
  isValidRecoveryPhrase,
  newRecoveryPhrase,
  type AccountScheme,
  type DeviceIdentity,
} from '@self/crypto';
import { encodeSignedTransaction, multibaseBase58btc, type SignedTransaction } from '@self/chain';
import { NodeApiError, NodeClient } from '@self/node/client';
import { CliError } from '../errors.js';
import {
  CloudApiError,
  CloudClient,
  INSTANCE_DELEGATE_ID,
  INSTANCE_SERVICE_ID,
  PersonContext,
  cliErrorFromCloud,
  getPassphrase,
  identityPath,
  initialDidDocument,
  normalizeServerUrl,
  openIdentity,
  readIdentityFile,
  resolveServer,
  sealIdentity,
  selfHome,
  signDidCreate,
  signDidUpdate,
  step,
  withInstance,
  writeIdentityFile,
  writeSession,
  type IdentityFile,
} from '../device/index.js';
import { wantsJson } from './status.js';

export const TIERS = ['free', 'growth', 'pro', 'enterprise'] as const;
export type Tier = (typeof TIERS)[number];
export const MODES = ['always-on', 'sovereign'] as const;
export type Mode = (typeof MODES)[number];

interface SignupOptions {
  tier: string;
  mode: string;
  server?: string;
  scheme: string;
  price: string;
}

/** What POST /v1/signup answers (201). */
export interface SignupResponse {
  did: string;
  address: string;
  tier: string;
  mode: string;
  session: { token: string; expires_at: number };
  instance: { id: string; endpoint: string; state: string; public_key: string; address: string };
  chain: { tx_hash: string; height: number };
}

/** What the relay of identity transactions answers once the chain committed it. */
interface RelayResponse {
  tx_hash?: string;
  hash?: string;
  height?: number;
  [field: string]: unknown;
}

/** Chain transactions can take a few blocks to commit; sign-up waits for two of them. */
const CHAIN_STEP_TIMEOUT_MS = 120_000;

export function addServerOption(cmd: Command): Command {
  return cmd.option(
    '--server <url>',
    'the SELF cloud (default: the one this device signed up with, else $SELF_SERVER, else http://127.0.0.1:8080)',
  );
}

export function registerSignup(program: Command): void {
  addServerOption(
    program
      .command('signup')
      .summary('create your identity and an account with a private instance on a SELF cloud')
      .description(
        'create your SELF identity on this device and an account with a private instance on a SELF cloud: ' +
          'makes a new recovery phrase and keys, registers your DID on SELF Chain and delegates your ' +
          'instance’s key in it. The recovery phrase is shown once: write it down. ' +
          'The keys are stored in $SELF_HOME/identity.json (default ~/.self), encrypted with a passphrase ' +
          '($SELF_PASSPHRASE, or asked for). Re-running after a failure resumes with the same keys.',
      )
      .option('--tier <tier>', `storage tier: ${TIERS.join(', ')}`, 'free')
      .option('--mode <mode>', 'always-on (the cloud keeps your instance running) or sovereign', 'always-on')
      .option('--scheme <scheme>', 'account key scheme: hybrid (Ed25519 + ML-DSA-65) or ed25519', 'hybrid')
      .option('--price <n>', 'point price of the chain transactions (fee per point, base units)', '1'),
  ).action(async (opts: SignupOptions) => {
    const tier = pick(opts.tier, TIERS, '--tier');
    const mode = pick(opts.mode, MODES, '--mode');
    const scheme = parseScheme(opts.scheme);
    const price = parsePositive(opts.price, '--price');
    const result = await signup({ tier, mode, scheme, price, server: opts.server });
    if (wantsJson(program)) {
      console.log(JSON.stringify(result));
      return;
    }
    // The phrase goes to stderr: stdout may be a log file or a pipe; the terminal is the person.
    if (result.recovery_phrase !== undefined) {
      process.stderr.write(
        '\nYour recovery phrase (write it down and keep it offline; it is shown only this once,\n' +
          'and it is the only way back to your identity if this device is lost):\n\n' +
          `  ${result.recovery_phrase}\n\n`,
      );
    }
    const rows: Array<[string, string]> = [
      ['did', result.did],
      ['address', result.address],
      ['tier', `${result.tier} (${result.mode})`],
      ['server', result.server],
      ['instance', `${result.instance.endpoint} (${result.instance.state})`],
      ['identity', result.identity_file],
    ];
    console.log(rows.map(([k, v]) => `${k.padEnd(9)} ${v}`).join('\n'));
  });
}

export interface SignupResult {
  did: string;
  address: string;
  tier: string;
  mode: string;
  server: string;
  /** Present when the sign-up completed in this run: the one time the phrase is printed. */
  recovery_phrase?: string;
  identity_file: string;
  session_expires_at: number;
  instance: {
    id: string | null;
    endpoint: string;
    state: string;
    public_key: string;
    address: string | null;
  };
  chain: {
    did_create: { tx_hash: string; height: number } | null;
    did_update: { tx_hash: string | null; height: number | null } | null;
  };
}

async function signup(o: {
  tier: Tier;
  mode: Mode;
  scheme: AccountScheme;
  price: number;
  server: string | undefined;
}): Promise<SignupResult> {
  const home = selfHome();
  const existing = readIdentityFile(home);
  const path = identityPath(home);
  if (
    existing !== null &&
    o.server !== undefined &&
    normalizeServerUrl(o.server) !== normalizeServerUrl(existing.server)
  ) {
    throw new CliError(
      `this device's identity ${existing.did} belongs to ${existing.server}, not ${normalizeServerUrl(o.server)}.\n` +
        '  hint: set SELF_HOME to another directory to sign up a second identity',
    );
  }
  const server = existing !== null ? normalizeServerUrl(existing.server) : resolveServer(o.server, null);

  let phrase: string;
  let identity: DeviceIdentity;
  let file: IdentityFile;
  if (existing === null) {
    const passphrase = await getPassphrase({ what: `your new identity (stored in ${path})`, confirm: true });
    step('making your keys…');
    phrase = newRecoveryPhrase();
    identity = identityFromPhrase(phrase, o.scheme);
    // Saved before anything goes over the network: whatever fails next, the keys are not lost.
    file = await sealIdentity({ phrase, passphrase, scheme: o.scheme, server });
    writeIdentityFile(home, file);
  } else {
    file = existing;
    step(`using the identity ${file.did} saved in ${path}: finishing its sign-up…`);
    const passphrase = await getPassphrase({ what: `${file.did} (${path})` });
    phrase = await openIdentity(file, passphrase, path);
    if (!isValidRecoveryPhrase(phrase)) throw new CliError(`${path} does not hold a valid recovery phrase`);
    identity = identityFromPhrase(phrase, file.scheme);
  }

  try {
    return await register(o, { home, path, server, phrase, identity });
  } catch (err) {
    if (existing !== null || !(err instanceof CliError)) throw err;
    throw new CliError(
      `${err.message}\n  note: your new identity ${identity.did} is saved in ${path}; ` +
        'run `self signup` again to resume with it',
      err.exitCode,
    );
  }
}

async function register(
  o: { tier: Tier; mode: Mode; price: number },
  d: { home: string; path: string; server: string; phrase: string; identity: DeviceIdentity },
): Promise<SignupResult> {
  const { home, path, server, phrase, identity } = d;
  const cloud = new CloudClient(server);
  const chainId = await chainIdOf(server);

  step(`signing up at ${server} (tier ${o.tier}, ${o.mode})…`);
  const create = signDidCreate(identity, identity.account, { chainId, pointPrice: o.price });
  let created: SignupResponse | null = null;
  try {
    created = await cloud.json<SignupResponse>('POST', '/v1/signup', {
      json: { tier: o.tier, mode: o.mode, transaction: b64url(encodeSignedTransaction(create)) },
      auth: false,
      timeoutMs: CHAIN_STEP_TIMEOUT_MS,
    });
  } catch (err) {
    // 409 `exists`: an earlier run (this device holds the same keys) got this far. Finish its work.
    if (!(err instanceof CloudApiError && err.status === 409 && err.code === 'exists')) {
      throw cliErrorFromCloud(err);
    }
  }

  const ctx = PersonContext.open({ server });
  ctx.useAccount(identity.account);
  let instance: SignupResult['instance'];
  let sessionExpiresAt: number;
  if (created !== null) {
    writeSession(home, {
      server,
      did: identity.did,
      token: created.session.token,
      expires_at: created.session.expires_at,
    });
    await ctx.ensureSession();
    sessionExpiresAt = created.session.expires_at;
    instance = { ...created.instance };
  } else {
    // An earlier run signed up and stopped before the end: sign in and finish.
    const grant = await ctx.signInNow();
    sessionExpiresAt = grant.expires_at;
    instance = await instanceFromMe(ctx, server, identity.did);
  }

  const delegation = await delegateInstance(ctx, identity, chainId, o.price, instance);
  if (created === null && delegation === null) {
    throw new CliError(
      `${identity.did} is already signed up at ${server} and its instance delegated.\n` +
        '  hint: `self login` signs in; SELF_HOME=<another dir> `self signup` makes a second identity',
    );
  }

  return {
    did: identity.did,
    address: identity.address,
    tier: created?.tier ?? o.tier,
    mode: created?.mode ?? o.mode,
    server,
    recovery_phrase: phrase,
    identity_file: path,
    session_expires_at: sessionExpiresAt,
    instance,
    chain: {
      did_create: created ? { tx_hash: created.chain.tx_hash, height: created.chain.height } : null,
      did_update: delegation,
    },
  };
}

/**
 * did.update adding the instance key as a delegate (anchors, node records) and the instance as a
 * service, relayed by the cloud. Null when the chain already says exactly that.
 */
async function delegateInstance(
  ctx: PersonContext,
  identity: DeviceIdentity,
  chainId: string,
  price: number,
  instance: SignupResult['instance'],
): Promise<{ tx_hash: string | null; height: number | null } | null> {
  const chain = new NodeClient(ctx.server, { timeoutMs: 30_000 });
  const instanceKey = fromHex(instance.public_key);
  if (await alreadyDelegated(chain, identity.did, instanceKey, instance.endpoint)) return null;
  step('delegating your instance’s key on SELF Chain…');
  const account = await fromChain(chain.account(identity.address), ctx.server);
  const document = withInstance(initialDidDocument(identity), {
    publicKey: instanceKey,
    endpoint: instance.endpoint,
  });
  const update: SignedTransaction<'did.update'> = signDidUpdate(document, identity.account, {
    chainId,
    nonce: Number(account.nonce) + 1,
    pointPrice: price,
  });
  const relayed = await ctx.call(
    (c) =>
      c.json<RelayResponse>('POST', '/v1/identity/transactions', {
        json: { transaction: b64url(encodeSignedTransaction(update)) },
        timeoutMs: CHAIN_STEP_TIMEOUT_MS,
      }),
    {
      not_found: `${ctx.server} does not relay identity transactions (POST /v1/identity/transactions); is it up to date?`,
    },
  );
  const hash =
    typeof relayed?.tx_hash === 'string'
      ? relayed.tx_hash
      : typeof relayed?.hash === 'string'
        ? relayed.hash
        : null;
  return { tx_hash: hash, height: typeof relayed?.height === 'number' ? relayed.height : null };
}

async function alreadyDelegated(
  chain: NodeClient,
  did: string,
  key: Uint8Array,
  endpoint: string,
): Promise<boolean> {
  let resolved: Record<string, unknown>;
  try {
    resolved = await chain.did(did);
  } catch (err) {
    if (err instanceof NodeApiError && err.status === 404) return false;
    throw chainError(err, '');
  }
  const doc = resolved.didDocument as
    | {
        verificationMethod?: Array<{ id: string; publicKeyMultibase: string }>;
        service?: Array<{ id: string; serviceEndpoint: string }>;
      }
    | null
    | undefined;
  const vm = doc?.verificationMethod?.find((m) => m.id === `${did}#${INSTANCE_DELEGATE_ID}`);
  const svc = doc?.service?.find((s) => s.id === `${did}#${INSTANCE_SERVICE_ID}`);
  return vm?.publicKeyMultibase === multibaseBase58btc(key) && svc?.serviceEndpoint === endpoint;
}

interface MeResponse {
  instance?: {
    id?: string;
    instanceId?: string;
    instance_id?: string;
    endpoint?: string;
    state?: string;
    public_key?: string;
    address?: string;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

async function instanceFromMe(
  ctx: PersonContext,
  server: string,
  did: string,
): Promise<SignupResult['instance']> {
  const me = await ctx.call((c) => c.json<MeResponse>('GET', '/v1/me'));
  const i = me?.instance ?? {};
  if (typeof i.public_key !== 'string' || !/^[0-9a-f]+$/.test(i.public_key)) {
    throw new CliError(
      `${server} did not say your instance's public key (GET /v1/me), so it cannot be delegated on chain; ` +
        'update the cloud and run `self signup` again',
    );
  }
  return {
    id: i.id ?? i.instance_id ?? i.instanceId ?? null,
    endpoint: typeof i.endpoint === 'string' ? i.endpoint : `${server}/v1/i/${did}`,
    state: typeof i.state === 'string' ? i.state : 'unknown',
    public_key: i.public_key,
    address: typeof i.address === 'string' ? i.address : null,
  };
}

export async function chainIdOf(server: string): Promise<string> {
  const status = await fromChain(new NodeClient(server).status(), server);
  return status.chain_id;
}

export async function fromChain<T>(p: Promise<T>, server: string): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw chainError(err, server);
  }
}

function chainError(err: unknown, server: string): unknown {
  if (!(err instanceof NodeApiError)) return err;
  if (err.code === 'unreachable' || err.code === 'timeout')
    return new CliError(
      `cannot reach the SELF cloud at ${server || 'the server'} (${err.code}).\n` +
        '  hint: start one with `self up`, or point at one with --server URL',
    );
  return new CliError(
    `the chain (through ${server}) answered: ${err.message} (${err.chainCode ?? err.code})`,
  );
}

export const b64url = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');

function pick<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new CliError(`${flag} must be one of ${allowed.join(', ')}, got "${value}"`, 2);
}

export function parseScheme(value: string): AccountScheme {
  if (value === 'hybrid') return 'hybrid-ed25519-ml-dsa-65';
  if (value === 'ed25519') return 'ed25519';
  throw new CliError(`unknown --scheme "${value}": use hybrid or ed25519`, 2);
}

export function parsePositive(value: string, flag: string): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new CliError(`${flag} must be a whole number ≥ 1, got "${value}"`, 2);
  return n;
}
