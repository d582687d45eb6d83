import { SELFDeveloper } from '@self/sdk';

/**
 * Approves the notes app's sign-in as a fresh testnet test user, for trying the app without a
 * second device: `npm run approve -w examples/notes-app -- ABCD-EFGH` with the user code the
 * consent page shows (or the request id), and SELF_API_KEY set to your developer key.
 */
const request = process.argv[2];
const apiKey = process.env['SELF_API_KEY'];
if (request === undefined || apiKey === undefined) {
  console.error(
    'usage: SELF_API_KEY=self_dk_… npm run approve -w examples/notes-app -- <user code | request id>',
  );
  process.exit(2);
}
const dev = new SELFDeveloper({
  apiKey,
  environment: { baseUrl: process.env['SELF_URL'] ?? 'http://127.0.0.1:8080' },
});
const user = await dev.createTestUser({ tier: 'free' });
const decision = await user.approve(request);
console.log(
  `approved as test user ${user.did}; the consent page now goes on to ${new URL(decision.redirectTo).origin}/callback`,
);
