import type { AppPrincipal } from '../auth/principal.js';
import type { RateClass } from '../config/tiers.js';
import type { AccountStore } from '../db/accounts.js';
import type { AccessTokens } from './access-tokens.js';
import type { Clients } from './clients.js';
import { invalidToken } from './errors.js';
import type { FamilyStore } from './families.js';

const MESSAGES: Record<string, string> = {
  bad_token: 'the access token is not one this cloud issued, or it is malformed',
  expired: 'the access token has expired; refresh it',
  wrong_audience: 'the access token is for another person’s instance',
  token_revoked: 'the access token was revoked (its grant or refresh chain was revoked)',
  app_inactive: 'the app is no longer active',
  account_inactive: 'this person’s account is not active here',
};

const refuse = (reason: keyof typeof MESSAGES): Error => invalidToken(MESSAGES[reason]!, reason);

/**
 * The gateway's check of an app's access token on an instance route: signature, type, issuer,
 * expiry, the audience being the instance of the DID in the path, the token family not revoked,
 * the app still active and the person's account active. The instance checks the token again, and
 * the grant it holds; this check refuses early and decides the rate limits.
 */
export class AppAccess {
  constructor(
    private readonly tokens: AccessTokens,
    private readonly families: FamilyStore,
    private readonly clients: Clients,
    private readonly accounts: AccountStore,
  ) {}

  /** The app principal, or an `invalid_token` OAuthError (401) whose `details.reason` says why. */
  async authenticate(token: string, pathDid: string): Promise<AppPrincipal & { appRateClass: RateClass }> {
    const checked = await this.tokens.verify(token, { did: pathDid });
    if (!checked.ok) throw refuse(checked.reason);
    const c = checked.claims;
    if (!this.families.isLive(c.fam)) throw refuse('token_revoked');
    const app = this.clients.registered(c.client_id);
    if (!app) throw refuse('app_inactive');
    const account = this.accounts.get(c.sub);
    if (!account || account.state !== 'active') throw refuse('account_inactive');
    return {
      did: c.sub,
      account,
      appId: c.client_id,
      scopes: c.scope.split(' '),
      grantId: c.grant,
      familyId: c.fam,
      token,
      appRateClass: app.rateClass,
    };
  }
}
