import { CliError } from './errors.js';
import { CloudApiError, CloudClient, PersonContext, cliErrorFromCloud, step } from './device/index.js';
import { readDeveloperFile, type DeveloperFile } from './developer-file.js';

/** What to try next for the developer routes' error codes. */
export const DEVELOPER_HINTS: Record<string, string> = {
  forbidden:
    'developer routes need a developer account: `self dev register --email you@example.com --project NAME`',
  not_on_production: 'test users exist only on a test network (`self up` runs one)',
  not_found: '`self dev apps ls` lists your apps',
};

/**
 * Who `self dev` commands are: the signed-in person, as a developer. Developer routes accept the
 * developer's API key or a session of the developer's DID; the saved key (developer.json, for this
 * server and identity) is tried first so that listing apps or making test users needs no passphrase
 * once the session has expired, and a key the cloud no longer knows falls back to the session.
 */
export class DeveloperContext {
  readonly person: PersonContext;
  readonly saved: DeveloperFile | null;
  private keyClient: CloudClient | null;

  private constructor(person: PersonContext) {
    this.person = person;
    const saved = readDeveloperFile(person.home);
    this.saved = saved !== null && saved.server === person.server && saved.did === person.did ? saved : null;
    this.keyClient = this.saved === null ? null : new CloudClient(person.server, this.saved.api_key);
  }

  static open(opts: { server?: string | undefined } = {}): DeveloperContext {
    return new DeveloperContext(PersonContext.open(opts));
  }

  get server(): string {
    return this.person.server;
  }

  async call<T>(fn: (client: CloudClient) => Promise<T>, hints: Record<string, string> = {}): Promise<T> {
    const all = { ...DEVELOPER_HINTS, ...hints };
    if (this.keyClient !== null) {
      try {
        return await fn(this.keyClient);
      } catch (err) {
        if (!(err instanceof CloudApiError) || err.status !== 401) throw cliErrorFromCloud(err, all);
        step('the API key in developer.json was refused; using your session instead…');
        this.keyClient = null;
      }
    }
    return this.person.call(fn, all);
  }
}

/** A CliError for an answer that lacks what the command needs (an older or different cloud). */
export function oddAnswer(server: string, route: string): CliError {
  return new CliError(`${server} answered ${route} without what it should; is the cloud up to date?`);
}
