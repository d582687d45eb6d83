import type { Command } from 'commander';
import { isValidRecoveryPhrase, normalizePhrase } from '@self/crypto';
import { CliError } from '../errors.js';
import {
  CloudClient,
  PersonContext,
  clearSession,
  getPassphrase,
  identityPath,
  promptHidden,
  readIdentityFile,
  readBody,
  readSession,
  resolveServer,
  sealIdentity,
  selfHome,
  step,
  writeIdentityFile,
} from '../device/index.js';
import { addServerOption, parseScheme } from './signup.js';
import { wantsJson } from './status.js';

interface LoginOptions {
  server?: string;
  recover?: boolean;
  scheme: string;
}

export function registerLogin(program: Command): void {
  addServerOption(
    program
      .command('login')
      .summary('sign in to your SELF cloud (or --recover an identity onto this device)')
      .description(
        'sign in to your SELF cloud with this device’s identity (asks for its passphrase, or reads ' +
          '$SELF_PASSPHRASE) and keep the session in $SELF_HOME/session.json. Data, audit and export ' +
          'commands sign in by themselves when the session is missing or expired. ' +
          'With --recover: first restore the identity on this device from its recovery phrase ' +
          '(read from standard input, or asked for), encrypted with a new passphrase.',
      )
      .option('--recover', 'restore this device’s identity from a recovery phrase before signing in')
      .option('--scheme <scheme>', 'with --recover: the account key scheme, hybrid or ed25519', 'hybrid'),
  ).action(async (opts: LoginOptions) => {
    const home = selfHome();
    if (opts.recover === true) await recover(home, opts);
    const ctx = PersonContext.open({ server: opts.server });
    const grant = await ctx.signInNow();
    const out = {
      did: ctx.did,
      address: ctx.identity.address,
      server: ctx.server,
      expires_at: grant.expires_at,
    };
    if (wantsJson(program)) console.log(JSON.stringify(out));
    else
      console.log(
        `signed in to ${out.server} as ${out.did}\nsession until ${new Date(out.expires_at).toISOString()}`,
      );
  });

  addServerOption(
    program
      .command('logout')
      .summary('end this device’s session')
      .description('end this device’s session with the SELF cloud and delete $SELF_HOME/session.json'),
  ).action(async (opts: { server?: string }) => {
    const home = selfHome();
    const session = readSession(home);
    let ended = false;
    if (session !== null) {
      const server = opts.server !== undefined ? resolveServer(opts.server, null) : session.server;
      const client = new CloudClient(server, session.token);
      // Best effort on the server: the local session is deleted either way.
      try {
        // Read to the end: an unread response would hold its keep-alive socket open.
        await readBody((await client.request('DELETE', '/v1/auth/session')).body);
        ended = true;
      } catch {
        ended = false;
      }
    }
    clearSession(home);
    if (wantsJson(program)) console.log(JSON.stringify({ signed_out: true, server_session_ended: ended }));
    else console.log(session === null ? 'no session on this device' : 'signed out');
  });
}

async function recover(home: string, opts: LoginOptions): Promise<void> {
  const existing = readIdentityFile(home);
  if (existing !== null) {
    throw new CliError(
      `this device already holds the identity ${existing.did} (${identityPath(home)}).\n` +
        '  hint: move that file away first, or set SELF_HOME to another directory',
    );
  }
  const scheme = parseScheme(opts.scheme);
  const phrase = normalizePhrase(await readPhrase());
  if (!isValidRecoveryPhrase(phrase))
    throw new CliError('that is not a valid 24-word recovery phrase: check the words and their order', 2);
  const passphrase = await getPassphrase({
    what: `the restored identity (stored in ${identityPath(home)})`,
    confirm: true,
  });
  const server = resolveServer(opts.server, null);
  const file = await sealIdentity({ phrase, passphrase, scheme, server });
  writeIdentityFile(home, file);
  step(`restored ${file.did} into ${identityPath(home)}`);
}

async function readPhrase(): Promise<string> {
  if (process.stdin.isTTY !== true) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  return promptHidden('Recovery phrase (24 words): ');
}
