import { parseArgs } from 'node:util';

/** How the notes app runs: flags win over environment variables, which win over defaults. */
export interface Config {
  /** The SELF cloud (its public URL, which is the OAuth issuer). */
  selfUrl: string;
  /** The app id from `self dev apps create`. */
  appId: string;
  /** The client secret of a confidential app; absent for a public one (PKCE only). */
  clientSecret: string | undefined;
  /** The port to listen on (127.0.0.1). */
  port: number;
  /** Where browsers reach this app; the redirect URI is `<publicUrl>/callback`. */
  publicUrl: string;
  /** The scopes to ask for (the app must be registered with all of them). */
  scopes: string[];
}

const USAGE = `usage: npm start -w examples/notes-app -- [--app-id app_…] [--self-url URL] [--port N]
  [--client-secret self_cs_…] [--public-url URL] [--scope S …]
environment: SELF_APP_ID, SELF_URL (default http://127.0.0.1:8080), SELF_CLIENT_SECRET, PORT (default 3000),
  PUBLIC_URL (default http://127.0.0.1:<port>), SELF_SCOPES (space-separated)`;

export const DEFAULT_SCOPES = ['storage:read', 'storage:write', 'ai:chat', 'profile:read'];

/** Reads flags and environment; exits with the usage on a mistake. */
export function readConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  const { values } = parseArgs({
    args: argv,
    options: {
      'app-id': { type: 'string' },
      'self-url': { type: 'string' },
      'client-secret': { type: 'string' },
      port: { type: 'string' },
      'public-url': { type: 'string' },
      scope: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    console.log(USAGE);
    process.exit(0);
  }
  const appId = values['app-id'] ?? env['SELF_APP_ID'];
  if (appId === undefined || appId === '') {
    console.error(
      `SELF_APP_ID (or --app-id) is required: make an app with \`npx self dev apps create\`\n${USAGE}`,
    );
    process.exit(2);
  }
  const port = Number(values.port ?? env['PORT'] ?? 3000);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`not a port: ${values.port ?? env['PORT']}\n${USAGE}`);
    process.exit(2);
  }
  const scopes = values.scope ?? env['SELF_SCOPES']?.split(/\s+/).filter((s) => s !== '') ?? DEFAULT_SCOPES;
  return {
    selfUrl: values['self-url'] ?? env['SELF_URL'] ?? 'http://127.0.0.1:8080',
    appId,
    clientSecret: values['client-secret'] ?? env['SELF_CLIENT_SECRET'] ?? undefined,
    port,
    publicUrl: (values['public-url'] ?? env['PUBLIC_URL'] ?? `http://127.0.0.1:${port}`).replace(/\/+$/, ''),
    scopes,
  };
}
