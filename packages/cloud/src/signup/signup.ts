import { didFromAddress, fromHex, toHex } from '@self/crypto';
import type { Transaction } from '@self/chain';
import { isNodeApiError, type NodeClient } from '@self/node/client';
import type { Logger } from 'pino';
import type { Provisioner } from '../instances/index.js';
import type { SessionManager } from '../auth/sessions.js';
import { didChainState } from '../chain/did.js';
import { chainStepFailure, isChainFailure } from '../chain/errors.js';
import type { Sponsor } from '../chain/sponsor.js';
import { waitForCommit, type Committed } from '../chain/submit.js';
import { MAX_CUSTOM_QUOTA_BYTES, MIN_CUSTOM_QUOTA_BYTES, TIER_CONFIG, type Tier } from '../config/tiers.js';
import type { Account, AccountStore, InstanceMode, StoredPlacement } from '../db/accounts.js';
import { CloudError, classifyError, invalidRequest } from '../http/errors.js';
import type { CloudMetrics } from '../metrics.js';
import { checkIdentityTransaction, keyFingerprint, type CheckedIdentityTx } from './validate.js';

export interface SignupRequest {
  tier: Tier;
  mode: InstanceMode;
  /** Enterprise only: a custom quota in bytes. */
  quotaBytes?: number;
  /** The encoded, signed did.create. */
  transaction: Uint8Array;
}

export interface SignupResult {
  account: Account;
  session: { token: string; expiresAt: number };
  chain: Committed;
}

/** What sign-up needs of the chain. */
export interface SignupChain {
  client: NodeClient;
  chainId: string;
  /** null: no sponsorship (the person's address must already hold the fee). */
  sponsor: Sponsor | null;
  pointPrice: number;
  /** Sponsor grants, in base units. */
  grants: { person: number; instance: number };
  commitTimeoutMs: number;
}

export interface SignupDeps {
  accounts: AccountStore;
  sessions: SessionManager;
  provisioner: Provisioner;
  chain: SignupChain;
  metrics: CloudMetrics;
  logger: Logger;
  now?: () => number;
}

/**
 * A sponsored did.create may bid at most this many times the sponsor's point price: the grant
 * covers its fee, so an absurd bid would only drain the sponsor.
 */
export const MAX_SPONSORED_PRICE_FACTOR = 100;

const invalidTx = (reason: string, message: string, details: Record<string, unknown> = {}): CloudError =>
  new CloudError(400, 'invalid_transaction', message, { ...details, reason });

const exists = (message: string, details: Record<string, unknown> = {}): CloudError =>
  new CloudError(409, 'exists', message, details);

/**
 * Sign-up (design §7): the device made the keys and signed a did.create; the cloud checks it,
 * provisions the instance, funds the new addresses on a sponsored testnet, puts the DID on chain
 * and opens a session.
 *
 * Every step is idempotent and the account row records progress: the row is `pending` while a
 * sign-up runs (a second concurrent one gets 409 `in_progress`), `failed` when a step failed, and a
 * retry of the same sign-up resumes from there — it reuses the provisioned instance (same
 * encryption key only), skips grants already received, and skips did.create once the DID is on
 * chain. A failed sign-up stops its instance and leaves no account that can sign in.
 *
 * Order: the person's grant and provisioning run in parallel; did.create is submitted once both
 * are done (a provisioning failure thus never leaves a DID on chain without an instance); the
 * instance address's grant is funded as soon as the instance exists, in parallel with did.create.
 */
export class SignupService {
  private readonly now: () => number;

  constructor(private readonly deps: SignupDeps) {
    this.now = deps.now ?? Date.now;
  }

  async signup(req: SignupRequest): Promise<SignupResult> {
    try {
      const result = await this.run(req);
      this.deps.metrics.signup('ok');
      return result;
    } catch (err) {
      const classified = classifyError(err, 0);
      this.deps.metrics.signup(
        classified?.status === 409 ? 'exists' : classified && classified.status < 500 ? 'invalid' : 'failed',
      );
      throw err;
    }
  }

  private async run(req: SignupRequest): Promise<SignupResult> {
    const { chain, accounts } = this.deps;
    const checked = checkIdentityTransaction(req.transaction, chain.chainId, ['did.create'] as const);
    const tx: Transaction<'did.create'> = checked.stx.tx;
    const address = checked.sender;
    const did = didFromAddress(address);
    const quotaBytes = this.quotaFor(req);
    if (chain.sponsor && tx.point_price > chain.pointPrice * MAX_SPONSORED_PRICE_FACTOR) {
      throw invalidTx(
        'point_price_too_high',
        `a sponsored did.create may bid at most ${chain.pointPrice * MAX_SPONSORED_PRICE_FACTOR} per point`,
        { max_point_price: chain.pointPrice * MAX_SPONSORED_PRICE_FACTOR },
      );
    }
    const encryptionKey = tx.body.document.encryption_key;
    const fingerprint = keyFingerprint(encryptionKey);

    let onChain;
    let chainAccount;
    try {
      [onChain, chainAccount] = await Promise.all([
        didChainState(chain.client, did),
        chain.client.account(address),
      ]);
    } catch (err) {
      throw chainStepFailure(err, 'reading the chain');
    }
    const known = accounts.get(did);
    if (onChain !== 'absent') {
      // Only a sign-up of ours that stopped after its did.create committed may continue.
      if (
        onChain === 'deactivated' ||
        !known ||
        known.state !== 'failed' ||
        known.encryptionKeyHash !== fingerprint
      ) {
        throw exists(`${did} is already on chain`, { did, on_chain: onChain });
      }
    } else if (tx.nonce !== chainAccount.nonce + 1) {
      throw invalidTx(
        'bad_nonce',
        `did.create must be the account's next transaction: nonce ${chainAccount.nonce + 1}, not ${tx.nonce}`,
        { expected_nonce: chainAccount.nonce + 1 },
      );
    }

    const reservation = accounts.reserve(
      { did, address, tier: req.tier, mode: req.mode, quotaBytes, encryptionKeyHash: fingerprint },
      this.now(),
    );
    if (!reservation.ok) {
      const state = reservation.existing.state;
      if (state === 'pending')
        throw new CloudError(409, 'in_progress', `a sign-up of ${did} is already running`, { did });
      throw exists(`${did} already has an account here`, { did, state });
    }
    let account = reservation.account;
    if (account.placement !== null) {
      const mismatch =
        account.encryptionKeyHash !== fingerprint
          ? 'encryption_key'
          : account.tier !== req.tier
            ? 'tier'
            : account.mode !== req.mode
              ? 'mode'
              : null;
      if (mismatch) {
        accounts.markFailed(did, account.failure ?? 'sign-up failed', this.now());
        throw exists(
          `an earlier sign-up of ${did} made an instance with another ${mismatch.replace('_', ' ')}; retry with the same one`,
          { did, reason: `different_${mismatch}` },
        );
      }
    }

    try {
      const committed = await this.steps(
        account,
        checked,
        encryptionKey,
        onChain === 'absent',
        chainAccount.balance,
      );
      account = accounts.markActive(did, committed, this.now());
      const session = this.deps.sessions.create(did);
      return { account, session, chain: committed };
    } catch (err) {
      const failure = classifyError(err, 0);
      this.deps.logger.warn(
        { did, err: failure ? undefined : err, code: failure?.code, reason: failure?.details.reason },
        'sign-up failed',
      );
      accounts.markFailed(
        did,
        failure?.message ?? (err instanceof Error ? err.message : String(err)),
        this.now(),
      );
      const placed = accounts.get(did)?.placement;
      if (placed) await this.deps.provisioner.stop(did).catch(() => undefined);
      throw err;
    }
  }

  private quotaFor(req: SignupRequest): number {
    if (req.quotaBytes === undefined) return TIER_CONFIG[req.tier].quotaBytes;
    if (req.tier !== 'enterprise')
      throw invalidRequest('quota_bytes is for the enterprise tier only; other tiers have fixed quotas', {
        field: 'quota_bytes',
      });
    if (req.quotaBytes < MIN_CUSTOM_QUOTA_BYTES || req.quotaBytes > MAX_CUSTOM_QUOTA_BYTES)
      throw invalidRequest(
        `quota_bytes must be between ${MIN_CUSTOM_QUOTA_BYTES} and ${MAX_CUSTOM_QUOTA_BYTES}`,
        {
          field: 'quota_bytes',
        },
      );
    return req.quotaBytes;
  }

  /** The chain and provisioning steps; each is skipped when an earlier attempt finished it. */
  private async steps(
    account: Account,
    checked: CheckedIdentityTx<'did.create'>,
    encryptionKey: Uint8Array,
    needsDidCreate: boolean,
    personBalance: number,
  ): Promise<Committed> {
    const { chain } = this.deps;
    const sponsor = chain.sponsor;

    const provisioning = this.ensurePlacement(account, encryptionKey);
    const personGrant =
      sponsor && needsDidCreate && personBalance < checked.fee
        ? sponsor
            .fund([{ to: account.address, amount: Math.max(chain.grants.person, checked.fee) }])
            .then(([hash]) => waitForCommit(chain.client, hash!, { timeoutMs: chain.commitTimeoutMs }))
        : Promise.resolve(null);
    const instanceGrant = provisioning.then(async (placement) => {
      if (!sponsor) return;
      const { balance } = await chain.client.account(placement.instanceAddress);
      if (balance > 0) return;
      const [hash] = await sponsor.fund([{ to: placement.instanceAddress, amount: chain.grants.instance }]);
      await waitForCommit(chain.client, hash!, { timeoutMs: chain.commitTimeoutMs });
    });
    // Every branch is awaited below; these keep a branch that fails while another is awaited from
    // counting as unhandled.
    for (const p of [provisioning, personGrant, instanceGrant]) p.catch(() => undefined);

    try {
      const settled = await Promise.allSettled([personGrant, provisioning]);
      for (const r of settled) if (r.status === 'rejected') throw r.reason;
      const committed = needsDidCreate
        ? await this.submitDidCreate(checked)
        : await this.existingDidTx(checked);
      await instanceGrant.catch((err: unknown) => {
        throw isChainFailure(err) ? chainStepFailure(err, 'funding the instance address') : err;
      });
      return committed;
    } catch (err) {
      // Nothing may keep running after the answer: wait for every branch to settle.
      await Promise.allSettled([provisioning, personGrant, instanceGrant]);
      throw isChainFailure(err) ? chainStepFailure(err, 'funding the account') : err;
    }
  }

  private async ensurePlacement(account: Account, encryptionKey: Uint8Array): Promise<StoredPlacement> {
    if (account.placement) return account.placement;
    const placement = await this.deps.provisioner.provision({
      did: account.did,
      tier: account.tier,
      quotaBytes: account.quotaBytes,
      mode: account.mode,
      personEncryptionKey: encryptionKey,
    });
    const stored: StoredPlacement = {
      instanceId: placement.instanceId,
      provisioner: placement.provisioner,
      location: placement.location,
      instancePublicKey: toHex(placement.instancePublicKey),
      instanceAddress: placement.instanceAddress,
    };
    this.deps.accounts.setPlacement(account.did, stored, this.now());
    return stored;
  }

  private async submitDidCreate(checked: CheckedIdentityTx<'did.create'>): Promise<Committed> {
    const { client, commitTimeoutMs } = this.deps.chain;
    try {
      await client.submitTransaction(checked.bytes);
    } catch (err) {
      // Already pending from an earlier attempt: wait for that one.
      if (!(isNodeApiError(err) && err.chainCode === 'duplicate')) {
        if (isNodeApiError(err) && err.chainCode === 'did_exists')
          throw exists(`${didFromAddress(checked.sender)} is already on chain`, { on_chain: 'active' });
        throw chainStepFailure(err, 'submitting did.create');
      }
    }
    try {
      return await waitForCommit(client, checked.hash, { timeoutMs: commitTimeoutMs });
    } catch (err) {
      throw chainStepFailure(err, 'committing did.create');
    }
  }

  /** The did.create of an earlier attempt is committed: where it is on chain. */
  private async existingDidTx(checked: CheckedIdentityTx<'did.create'>): Promise<Committed> {
    const { client } = this.deps.chain;
    try {
      const tx = await client.transaction(checked.hash);
      if (tx.status === 'committed') return { hash: checked.hash, height: tx.height };
    } catch {
      // A did.create signed differently the first time: read the height from the DID record.
    }
    try {
      const resolution = await client.did(didFromAddress(checked.sender));
      const meta = resolution.didDocumentMetadata as { createdHeight?: number } | undefined;
      return { hash: checked.hash, height: meta?.createdHeight ?? 0 };
    } catch (err) {
      throw chainStepFailure(err, 'reading the DID');
    }
  }
}

/** The instance public key of a stored placement, as bytes. */
export const placementPublicKey = (p: StoredPlacement): Uint8Array => fromHex(p.instancePublicKey);
