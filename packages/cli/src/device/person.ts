import { accountKeysFromPhrase, type SigningKey } from '@self/crypto';
import { CliError } from '../errors.js';
import { signIn } from './auth.js';
import {
  CloudApiError,
  CloudClient,
  DEFAULT_SERVER_URL,
  cliErrorFromCloud,
  fromCloud,
  normalizeServerUrl,
} from './cloud-client.js';
import { selfHome } from './home.js';
import { identityPath, openIdentity, readIdentityFile, type IdentityFile } from './identity-file.js';
import { getPassphrase } from './passphrase.js';
import { readSession, sessionUsable, writeSession } from './session.js';

/** One line of progress on stderr (stdout stays for the command's result). */
export function step(text: string): void {
  process.stderr.write(`${text}\n`);
}

const IDENTITY_NAME = 'identity.json';

/** --server, else the server the identity signed up with, else $SELF_SERVER, else the local default. */
export function resolveServer(flag: string | undefined, identity: IdentityFile | null): string {
  if (flag !== undefined) return normalizeServerUrl(flag);
  if (identity !== null) return normalizeServerUrl(identity.server, `the server in ${IDENTITY_NAME}`);
  const env = process.env.SELF_SERVER;
  if (env !== undefined && env !== '') return normalizeServerUrl(env, 'SELF_SERVER');
  return DEFAULT_SERVER_URL;
}

/** This device's identity; a CliError saying how to make one when there is none. */
export function requireIdentity(home: string): IdentityFile {
  const file = readIdentityFile(home);
  if (file === null) {
    throw new CliError(
      `this device has no SELF identity (looked in ${home}).\n` +
        '  hint: `self signup` makes one; `self login --recover` restores one from a recovery phrase; ' +
        'SELF_HOME points at another device home',
    );
  }
  return file;
}

/** Asks for the passphrase and opens the identity: the recovery phrase and the account key. */
export async function unlockIdentity(
  home: string,
  file: IdentityFile,
): Promise<{ phrase: string; account: SigningKey }> {
  const path = identityPath(home);
  const passphrase = await getPassphrase({ what: `${file.did} (${path})` });
  const phrase = await openIdentity(file, passphrase, path);
  return { phrase, account: accountKeysFromPhrase(phrase, file.scheme).account };
}

/**
 * The signed-in person: this device's identity, a client of its cloud, and a session that is
 * renewed on demand. Commands call `call(fn)`: a missing or expiring session is replaced by a
 * fresh sign-in (asking for the passphrase) before `fn` runs, and a session the server no longer
 * accepts (401: it restarted, or the session was ended elsewhere) once more after.
 */
export class PersonContext {
  readonly client: CloudClient;
  private account: SigningKey | null = null;
  /** Whether the current token came from a sign-in made by this process. */
  private fresh = false;

  private constructor(
    readonly home: string,
    readonly identity: IdentityFile,
    server: string,
  ) {
    this.client = new CloudClient(server);
  }

  static open(opts: { server?: string | undefined } = {}): PersonContext {
    const home = selfHome();
    const identity = requireIdentity(home);
    return new PersonContext(home, identity, resolveServer(opts.server, identity));
  }

  get did(): string {
    return this.identity.did;
  }

  get server(): string {
    return this.client.baseUrl;
  }

  /**
   * The cloud path of an instance API path (docs/instance-api.md): the gateway serves the person's
   * instance under `/v1/i/<did>/`, so `/v1/data/notes/a` is `/v1/i/<did>/data/notes/a`.
   */
  instance(apiPath: string): string {
    if (!apiPath.startsWith('/v1/')) throw new TypeError(`not an instance API path: ${apiPath}`);
    // ':' is legal in a path segment; the gateway matches the DID as written.
    return `/v1/i/${this.identity.did}/${apiPath.slice('/v1/'.length)}`;
  }

  /** Uses the stored session if it is still good for this server and DID, else signs in. */
  async ensureSession(): Promise<void> {
    if (this.client.token !== null) return;
    const stored = readSession(this.home);
    if (sessionUsable(stored, this.server, this.did)) {
      this.client.token = stored.token;
      this.fresh = false;
      return;
    }
    await this.signInNow();
  }

  /** Sign-ins from here on use this key instead of asking for the passphrase. */
  useAccount(account: SigningKey): void {
    this.account = account;
  }

  /** A new session, whatever the stored one says; saved to session.json. */
  async signInNow(): Promise<{ token: string; expires_at: number }> {
    if (this.account === null) this.account = (await unlockIdentity(this.home, this.identity)).account;
    step(`signing in to ${this.server} as ${this.did}…`);
    this.client.token = null;
    const grant = await fromCloud(
      signIn(this.client, this.did, this.account).catch((err: unknown) => {
        if (err instanceof CloudApiError && err.details.reason === 'did_deactivated') {
          throw new CliError(
            `${this.did} is deactivated on SELF Chain: it can no longer sign in, and its account at ` +
              `${this.server} is closed.\n  hint: SELF_HOME=<another dir> \`self signup\` makes a new identity`,
          );
        }
        throw err;
      }),
      {
        not_found: `${this.server} has no account for ${this.did}: \`self signup\` makes one, or --server names the cloud it lives on`,
      },
    );
    writeSession(this.home, {
      server: this.server,
      did: this.did,
      token: grant.token,
      expires_at: grant.expires_at,
    });
    this.client.token = grant.token;
    this.fresh = true;
    return grant;
  }

  /** Runs `fn` with a signed-in client; CloudApiErrors become CliErrors (with `hints` first). */
  async call<T>(fn: (client: CloudClient) => Promise<T>, hints?: Record<string, string>): Promise<T> {
    await this.ensureSession();
    try {
      return await fn(this.client);
    } catch (err) {
      if (!(err instanceof CloudApiError) || err.status !== 401 || this.fresh)
        throw cliErrorFromCloud(err, hints);
    }
    await this.signInNow();
    return fromCloud(fn(this.client), hints);
  }
}
