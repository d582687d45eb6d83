import type { Command } from 'commander';
import { fromHex, type SigningKey } from '@self/crypto';
import {
  decode,
  encodeSignedTransaction,
  multibaseBase58btc,
  signTransaction,
  type DidDocumentData,
  type DidRecord,
  type SignedTransaction,
  type Transaction,
} from '@self/chain';
import { NodeClient } from '@self/node/client';
import { CliError } from '../errors.js';
import {
  INSTANCE_DELEGATE_ID,
  INSTANCE_SERVICE_ID,
  PersonContext,
  clearSession,
  requireIdentity,
  resolveServer,
  selfHome,
  signDidUpdate,
  step,
  unlockIdentity,
  withInstance,
  type IdentityFile,
} from '../device/index.js';
import { addServerOption, b64url, chainIdOf, fromChain, parsePositive } from './signup.js';
import { wantsJson } from './status.js';

/** A relayed identity transaction commits within a few blocks. */
const RELAY_TIMEOUT_MS = 120_000;

interface W3cDocument {
  id?: string;
  verificationMethod?: Array<{ id: string; publicKeyMultibase: string; selfPurposes?: string[] }>;
  service?: Array<{ id: string; type: string; serviceEndpoint: string }>;
}

/** What GET /v1/dids/<did> answers (200, or 410 once deactivated). */
interface DidResolution {
  didDocument: W3cDocument | null;
  didDocumentMetadata: {
    versionId?: string;
    deactivated?: boolean;
    created?: string;
    updated?: string;
    updatedHeight?: number;
  };
  /** The raw state record (hex of its canonical CBOR) with its Merkle proof. */
  proof?: { value: string | null };
}

/** The DID as the chain holds it: the W3C rendering and the record it was rendered from. */
interface OnChainDid {
  resolution: DidResolution;
  record: DidRecord;
}

export interface IdentitySummary {
  did: string;
  version: number;
  deactivated: boolean;
  created: string | null;
  updated: string | null;
  updated_height: number | null;
  delegates: Array<{ id: string; purposes: string[]; public_key_multibase: string }>;
  services: Array<{ id: string; type: string; endpoint: string }>;
}

interface TxOptions {
  server?: string;
  price: string;
}

interface RelayResponse {
  tx_hash?: string;
  height?: number;
  kind?: string;
}

export function registerIdentity(program: Command): void {
  const identity = program
    .command('identity')
    .summary('show and change your DID on SELF Chain')
    .description(
      'your DID on SELF Chain: show its document, take your instance’s key out of it or put it back, ' +
        'or deactivate it for good. Changes are signed on this device with your account key (asks for ' +
        'the passphrase) and relayed to the chain by your SELF cloud.',
    );

  addServerOption(
    identity
      .command('show')
      .description('resolve your DID on SELF Chain and show its document: version, delegates, services'),
  ).action(async (opts: { server?: string }) => {
    const { file, server } = where(opts.server);
    const summary = summarize(file.did, (await resolveDid(server, file.did)).resolution);
    if (wantsJson(program)) {
      console.log(JSON.stringify(summary));
      return;
    }
    console.log(formatSummary(summary));
  });

  addTxOptions(
    identity
      .command('revoke-instance')
      .description(
        `take your instance’s key (delegate "${INSTANCE_DELEGATE_ID}") out of your DID document: it may ` +
          'no longer sign anchors or node records for you. Keys and services stay as they are.',
      ),
  ).action(async (opts: TxOptions) => {
    const price = parsePositive(opts.price, '--price');
    const { home, file, server } = where(opts.server);
    const { record } = await resolveDid(server, file.did);
    refuseDeactivated(record);
    const doc = record.document;
    if (!doc.delegates.some((d) => d.id === INSTANCE_DELEGATE_ID)) {
      throw new CliError(
        `${file.did} has no delegate "${INSTANCE_DELEGATE_ID}": there is no instance key to revoke.\n` +
          '  hint: `self identity show` lists the delegates; `self identity delegate-instance` adds it',
      );
    }
    const account = (await unlockIdentity(home, file)).account;
    const document: DidDocumentData = {
      root_key: doc.root_key,
      encryption_key: doc.encryption_key,
      delegates: doc.delegates.filter((d) => d.id !== INSTANCE_DELEGATE_ID),
      services: [...doc.services],
    };
    step('revoking your instance’s key on SELF Chain…');
    const result = await relay(server, file, account, (p) => signDidUpdate(document, account, p), price);
    print(program, { did: file.did, action: 'revoke-instance', ...result });
  });

  addTxOptions(
    identity
      .command('delegate-instance')
      .description(
        `delegate your instance’s key (as "${INSTANCE_DELEGATE_ID}": anchors and node records) in your ` +
          `DID document again, with its service entry ("${INSTANCE_SERVICE_ID}"); the key and endpoint ` +
          'come from your cloud (GET /v1/me).',
      ),
  ).action(async (opts: TxOptions) => {
    const price = parsePositive(opts.price, '--price');
    const { home, file, server } = where(opts.server);
    const { record } = await resolveDid(server, file.did);
    refuseDeactivated(record);
    const account = (await unlockIdentity(home, file)).account;
    const ctx = PersonContext.open({ server });
    ctx.useAccount(account);
    const instance = await instanceOf(ctx);
    const doc = record.document;
    const delegate = doc.delegates.find((d) => d.id === INSTANCE_DELEGATE_ID);
    const service = doc.services.find((s) => s.id === INSTANCE_SERVICE_ID);
    if (
      delegate !== undefined &&
      sameBytes(delegate.public_key, instance.publicKey) &&
      service?.endpoint === instance.endpoint
    ) {
      throw new CliError(
        `your instance’s key is already delegated in ${file.did} (delegate "${INSTANCE_DELEGATE_ID}", ` +
          `${multibaseBase58btc(instance.publicKey)}); nothing to do`,
      );
    }
    const document = withInstance(doc, instance);
    step('delegating your instance’s key on SELF Chain…');
    const result = await relay(server, file, account, (p) => signDidUpdate(document, account, p), price, ctx);
    print(program, { did: file.did, action: 'delegate-instance', ...result });
  });

  addTxOptions(
    identity
      .command('deactivate')
      .description(
        'deactivate your DID on SELF Chain, permanently: it can never be updated or used to sign in ' +
          'again, your account’s sessions end and its instance stops. Needs --yes.',
      )
      .option('--yes', 'confirm: deactivation is permanent and cannot be undone'),
  ).action(async (opts: TxOptions & { yes?: boolean }) => {
    const price = parsePositive(opts.price, '--price');
    if (opts.yes !== true) {
      throw new CliError(
        'deactivating your DID is permanent: it can never be updated, re-activated or used to sign in ' +
          'again, and your instance stops.\n  hint: run `self identity deactivate --yes` if you mean it',
        2,
      );
    }
    const { home, file, server } = where(opts.server);
    const { record } = await resolveDid(server, file.did);
    refuseDeactivated(record);
    const account = (await unlockIdentity(home, file)).account;
    step(`deactivating ${file.did} on SELF Chain…`);
    const result = await relay(
      server,
      file,
      account,
      (p) => {
        const tx: Transaction<'did.deactivate'> = {
          v: 1,
          chain_id: p.chainId,
          kind: 'did.deactivate',
          nonce: p.nonce,
          point_price: p.pointPrice,
          body: {},
        };
        return signTransaction(tx, account);
      },
      price,
    );
    // The cloud ended every session of the account: the stored one is of no more use.
    clearSession(home);
    print(program, { did: file.did, action: 'deactivate', ...result });
  });
}

function addTxOptions(cmd: Command): Command {
  return addServerOption(
    cmd.option('--price <n>', 'point price of the chain transaction (fee per point, base units)', '1'),
  );
}

function where(flag: string | undefined): { home: string; file: IdentityFile; server: string } {
  const home = selfHome();
  const file = requireIdentity(home);
  return { home, file, server: resolveServer(flag, file) };
}

/**
 * Resolves the DID through the cloud (which forwards /v1/dids to its chain node). A deactivated
 * DID answers 410 with its resolution result, so this reads the body of 200 and 410 alike. The
 * record comes from the answer's proof (the raw state value): the exact DidDocumentData, bytes
 * and all, that an update starts from.
 */
async function resolveDid(server: string, did: string): Promise<OnChainDid> {
  const url = `${server}/v1/dids/${encodeURIComponent(did)}`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(30_000) });
    text = await res.text();
  } catch {
    throw new CliError(
      `cannot reach the SELF cloud at ${server}.\n` +
        '  hint: start one with `self up`, or point at one with --server URL',
    );
  }
  let body: (DidResolution & { message?: string; error?: string }) | undefined;
  try {
    body = JSON.parse(text) as DidResolution & { message?: string; error?: string };
  } catch {
    body = undefined;
  }
  if (res.status === 404) {
    throw new CliError(
      `${did} is not on SELF Chain (through ${server}).\n` +
        '  hint: `self signup` registers it (re-running it resumes an unfinished sign-up)',
    );
  }
  if ((res.status !== 200 && res.status !== 410) || body === undefined) {
    const why = body?.message ? `${body.message} (${body.error ?? res.status})` : `HTTP ${res.status}`;
    throw new CliError(`resolving ${did} through ${server} failed: ${why}`);
  }
  const value = body.proof?.value;
  if (typeof value !== 'string') {
    throw new CliError(`${server} answered ${did} without its on-chain record; is the cloud up to date?`);
  }
  const record = decode(fromHex(value)) as DidRecord;
  if (record?.did !== did || record.document === undefined) {
    throw new CliError(`${server} answered ${did} with another record`);
  }
  return { resolution: body, record };
}

function refuseDeactivated(record: DidRecord): void {
  if (record.deactivated) {
    throw new CliError(`${record.did} is deactivated: it can no longer be changed`);
  }
}

function summarize(did: string, r: DidResolution): IdentitySummary {
  const doc = r.didDocument ?? {};
  const meta = r.didDocumentMetadata ?? {};
  const fragment = (id: string): string => (id.startsWith(`${did}#`) ? id.slice(did.length + 1) : id);
  return {
    did,
    version: Number(meta.versionId ?? 0),
    deactivated: meta.deactivated === true,
    created: meta.created ?? null,
    updated: meta.updated ?? null,
    updated_height: meta.updatedHeight ?? null,
    delegates: (doc.verificationMethod ?? [])
      .filter((m) => m.selfPurposes !== undefined)
      .map((m) => ({
        id: fragment(m.id),
        purposes: [...(m.selfPurposes ?? [])],
        public_key_multibase: m.publicKeyMultibase,
      })),
    services: (doc.service ?? []).map((s) => ({
      id: fragment(s.id),
      type: s.type,
      endpoint: s.serviceEndpoint,
    })),
  };
}

function formatSummary(s: IdentitySummary): string {
  const rows: Array<[string, string]> = [
    ['did', s.did],
    ['version', String(s.version)],
    ['deactivated', s.deactivated ? 'yes' : 'no'],
    ['updated', s.updated === null ? '-' : `${s.updated} (height ${s.updated_height ?? '?'})`],
  ];
  const lines = rows.map(([k, v]) => `${k.padEnd(12)} ${v}`);
  lines.push(`delegates    ${s.delegates.length === 0 ? '(none)' : ''}`.trimEnd());
  for (const d of s.delegates) lines.push(`  ${d.id}  ${d.purposes.join(', ')}  ${d.public_key_multibase}`);
  lines.push(`services     ${s.services.length === 0 ? '(none)' : ''}`.trimEnd());
  for (const v of s.services) lines.push(`  ${v.id}  ${v.type}  ${v.endpoint}`);
  return lines.join('\n');
}

interface MeResponse {
  instance?: { public_key?: unknown; endpoint?: unknown };
}

async function instanceOf(ctx: PersonContext): Promise<{ publicKey: Uint8Array; endpoint: string }> {
  const me = await ctx.call((c) => c.json<MeResponse>('GET', '/v1/me'));
  const key = me?.instance?.public_key;
  const endpoint = me?.instance?.endpoint;
  if (typeof key !== 'string' || !/^(?:[0-9a-f]{2})+$/.test(key) || typeof endpoint !== 'string') {
    throw new CliError(
      `${ctx.server} did not say your instance’s public key and endpoint (GET /v1/me), so it cannot be ` +
        'delegated; is the cloud up to date?',
    );
  }
  return { publicKey: fromHex(key), endpoint };
}

type SignParams = { chainId: string; nonce: number; pointPrice: number };

/** Signs with the account's next nonce and relays through POST /v1/identity/transactions. */
async function relay(
  server: string,
  file: IdentityFile,
  account: SigningKey,
  sign: (p: SignParams) => SignedTransaction,
  price: number,
  existing?: PersonContext,
): Promise<{ tx_hash: string | null; height: number | null }> {
  const ctx = existing ?? PersonContext.open({ server });
  ctx.useAccount(account);
  const chainId = await chainIdOf(server);
  const info = await fromChain(new NodeClient(server, { timeoutMs: 30_000 }).account(file.address), server);
  const stx = sign({ chainId, nonce: Number(info.nonce) + 1, pointPrice: price });
  const relayed = await ctx.call(
    (c) =>
      c.json<RelayResponse>('POST', '/v1/identity/transactions', {
        json: { transaction: b64url(encodeSignedTransaction(stx)) },
        timeoutMs: RELAY_TIMEOUT_MS,
      }),
    {
      not_found: `${server} does not relay identity transactions (POST /v1/identity/transactions); is it up to date?`,
    },
  );
  return {
    tx_hash: typeof relayed?.tx_hash === 'string' ? relayed.tx_hash : null,
    height: typeof relayed?.height === 'number' ? relayed.height : null,
  };
}

function print(
  program: Command,
  r: { did: string; action: string; tx_hash: string | null; height: number | null },
): void {
  if (wantsJson(program)) {
    console.log(JSON.stringify(r));
    return;
  }
  console.log(`tx      ${r.tx_hash ?? '-'}\nheight  ${r.height ?? '-'}`);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
