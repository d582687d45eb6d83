import { AppStore } from '../developers/apps.js';
import type { CloudContext } from '../routes/context.js';
import { AccessTokens } from './access-tokens.js';
import { AppAccess } from './app-access.js';
import { Clients } from './clients.js';
import { CodeStore } from './codes.js';
import { ConsentService } from './consent.js';
import { FamilyStore } from './families.js';
import { RequestStore } from './requests.js';
import type { SigningKeyPair } from './signing-key.js';

/** The authorization server's parts, shared by its routes and the gateway's forwarding route. */
export interface OAuthServer {
  issuer: string;
  key: SigningKeyPair;
  tokens: AccessTokens;
  families: FamilyStore;
  codes: CodeStore;
  requests: RequestStore;
  clients: Clients;
  consent: ConsentService;
  /** The gateway's check of app tokens on instance routes. */
  access: AppAccess;
}

/** The OAuth 2.1 authorization server over the control database; issuer = the cloud's public URL. */
export function createOAuthServer(ctx: CloudContext, key: SigningKeyPair): OAuthServer {
  const issuer = ctx.publicUrl;
  const tokens = new AccessTokens(key, issuer, ctx.now);
  const families = new FamilyStore(ctx.db, ctx.now);
  const codes = new CodeStore(ctx.db, ctx.now);
  const requests = new RequestStore(ctx.db, ctx.now);
  const clients = new Clients(new AppStore(ctx.db), ctx.chain.client, ctx.logger);
  const consent = new ConsentService({
    requests,
    codes,
    clients,
    provisioner: ctx.provisioner,
    issuer,
    origin: ctx.origin,
    now: ctx.now,
  });
  const access = new AppAccess(tokens, families, clients, ctx.accounts);
  return { issuer, key, tokens, families, codes, requests, clients, consent, access };
}
