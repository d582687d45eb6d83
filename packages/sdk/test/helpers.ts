import { SELFClient, memoryTokenStore, type SELFSession, type TokenStore } from '../src/index.js';
import { APP_ID, FakeCloud, ISSUER, REDIRECT } from './fake-cloud.js';

/** A client of the fake cloud and a signed-in session, through the real authorize → code → token path. */
export async function signedIn(
  cloud = new FakeCloud(),
  store: TokenStore = memoryTokenStore(),
): Promise<{ cloud: FakeCloud; client: SELFClient; session: SELFSession; store: TokenStore }> {
  const client = new SELFClient({
    appId: APP_ID,
    environment: { baseUrl: ISSUER },
    redirectUri: REDIRECT,
    fetch: cloud.fetch,
    tokenStore: store,
  });
  const a = await client.authorizationUrl({ permissions: ['storage:read', 'storage:write', 'ai:chat'] });
  const res = await cloud.fetch(a.url, { headers: { accept: 'application/json' } });
  const { request_id } = (await res.json()) as { request_id: string };
  const session = await client.handleRedirect(cloud.approve(request_id), { pending: a });
  return { cloud, client, session, store };
}
