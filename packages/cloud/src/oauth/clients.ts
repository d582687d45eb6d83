import { APP_ID_RE, didFromAddress } from '@self/crypto';
import type { NodeClient } from '@self/node/client';
import type { Logger } from 'pino';
import type { AppStore, RegisteredApp } from '../developers/apps.js';
import { readChainApp, type ChainApp } from '../developers/chain-app.js';

/** An OAuth client as the consent step shows it. */
export interface AppView {
  app_id: string;
  name: string;
  owner_did: string;
  logo_uri: string;
  /** The chain holds this app, active, with this owner, name and logo. */
  verified_on_chain: boolean;
  /** The height of the app's last registration or update on chain. */
  height: number;
}

export interface Client {
  app: RegisteredApp;
  /** The chain's record; null when the node does not hold it or could not be asked. */
  onChain: ChainApp | null;
}

/**
 * OAuth clients: the developer registry's mirror of each app (fast, holds the client type and the
 * secret's hash) checked against the chain at the steps a person sees. The chain is the authority:
 * an app the chain holds inactive is refused, and a redirect URI or scope must be registered in
 * both places (a mirror that lags an app.update never widens what the app may do).
 */
export class Clients {
  constructor(
    readonly apps: AppStore,
    private readonly chain: NodeClient,
    private readonly logger: Logger,
  ) {}

  /** The registry's active app, without asking the chain (token and introspection endpoints). */
  registered(clientId: string): RegisteredApp | undefined {
    if (!APP_ID_RE.test(clientId)) return undefined;
    const app = this.apps.get(clientId);
    return app && app.active ? app : undefined;
  }

  /** The app with its chain record; undefined when unknown, or inactive in either place. */
  async resolve(clientId: string): Promise<Client | undefined> {
    const app = this.registered(clientId);
    if (!app) return undefined;
    let onChain: ChainApp | null = null;
    try {
      onChain = await readChainApp(this.chain, clientId);
    } catch (err) {
      // The page then says "not verified"; the registry's mirror still bounds what the app may ask.
      this.logger.warn({ err, app: clientId }, 'the chain could not confirm an app');
    }
    if (onChain && !onChain.active) return undefined;
    return { app, onChain };
  }

  allowsRedirect(c: Client, uri: string): boolean {
    return c.app.redirectUris.includes(uri) && (!c.onChain || c.onChain.redirect_uris.includes(uri));
  }

  allowsScope(c: Client, scope: string): boolean {
    return c.app.scopes.includes(scope) && (!c.onChain || c.onChain.scopes.includes(scope));
  }

  view(c: Client): AppView {
    const chain = c.onChain;
    const ownerDid = chain ? didFromAddress(chain.owner) : c.app.ownerDid;
    const verified =
      chain !== null &&
      ownerDid === c.app.ownerDid &&
      chain.name === c.app.name &&
      chain.logo_uri === c.app.logoUri;
    return {
      app_id: c.app.appId,
      name: chain?.name ?? c.app.name,
      owner_did: ownerDid,
      logo_uri: chain?.logo_uri ?? c.app.logoUri,
      verified_on_chain: verified,
      height: chain?.updated_height ?? c.app.height,
    };
  }
}
