import { deriveAppId } from '@self/chain';
import { CloudError, invalidRequest, notFound, unavailable } from '../http/errors.js';
import type { SignupChain } from '../signup/signup.js';
import type { AppStore, ClientType, StoredApp } from './apps.js';
import { readChainApp, type ChainApp } from './chain-app.js';
import type { Developer } from './developers.js';
import { checkOwnTransaction, relayAndWait } from './relay.js';

/**
 * Apps of developers: the developer's device signs `app.register` / `app.update` with their
 * account key; the cloud checks it is theirs, relays it, waits for the commit and mirrors what the
 * chain then holds. The cloud never signs an app into existence, so an app's owner on chain is
 * always the developer who asked.
 */
export class DeveloperApps {
  constructor(
    private readonly chain: SignupChain,
    readonly store: AppStore,
  ) {}

  async create(
    developer: Developer,
    transaction: string,
    clientType: ClientType,
  ): Promise<{ app: StoredApp; secret: string | null }> {
    const checked = checkOwnTransaction(this.chain, transaction, ['app.register'] as const, developer.did);
    const appId = checked.stx.tx.body.app_id;
    // The chain checks the derivation only when it executes the block, which a relay would see as
    // a dropped transaction; the device's mistake is better told as one.
    const expected = deriveAppId(checked.sender, checked.stx.tx.nonce);
    if (appId !== expected)
      throw new CloudError(
        400,
        'invalid_transaction',
        `app_id must be ${expected} for this sender and nonce`,
        {
          reason: 'invalid_body',
          expected,
        },
      );
    if (this.store.get(appId)) throw exists(appId);
    const committed = await relayAndWait(this.chain, checked);
    const app = await this.committedApp(appId, checked.sender);
    const stored = this.store.insert({ app, developerId: developer.id, clientType, txHash: committed.hash });
    if (!stored) throw exists(appId);
    return stored;
  }

  async update(developer: Developer, appId: string, transaction: string): Promise<StoredApp> {
    this.owned(developer, appId);
    const checked = checkOwnTransaction(this.chain, transaction, ['app.update'] as const, developer.did);
    if (checked.stx.tx.body.app_id !== appId)
      throw invalidRequest(`the transaction updates ${checked.stx.tx.body.app_id}, not ${appId}`, {
        reason: 'app_id_mismatch',
      });
    const committed = await relayAndWait(this.chain, checked);
    const app = await this.committedApp(appId, checked.sender);
    const stored = this.store.update(app, committed.hash);
    if (!stored) throw notFound(`no app ${appId}`);
    return stored;
  }

  /** The developer's own app; another developer's is as absent as an unknown one. */
  owned(developer: Developer, appId: string): StoredApp {
    const app = this.store.get(appId);
    if (!app || app.developerId !== developer.id) throw notFound(`you have no app ${appId}`);
    return app;
  }

  private async committedApp(appId: string, owner: string): Promise<ChainApp> {
    const app = await readChainApp(this.chain.client, appId);
    // The chain applied the developer's own transaction, so anything else means the node lags.
    if (!app || app.owner !== owner)
      throw unavailable('the chain committed the transaction but does not show the app yet; retry', {
        step: 'reading the app from the chain',
        app_id: appId,
      });
    return app;
  }
}

const exists = (appId: string): CloudError =>
  new CloudError(409, 'exists', `${appId} is already registered here`, { app_id: appId });
