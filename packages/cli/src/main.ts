import { Command, CommanderError } from 'commander';
import { registerAi } from './commands/ai.js';
import { registerApps } from './commands/apps.js';
import { registerAudit } from './commands/audit.js';
import { registerChat } from './commands/chat.js';
import { registerConsent } from './commands/consent.js';
import { registerData } from './commands/data.js';
import { registerDev } from './commands/dev.js';
import { registerExport } from './commands/export.js';
import { registerIdentity } from './commands/identity.js';
import { registerInstances } from './commands/instances.js';
import { registerKeys } from './commands/keys.js';
import { registerLogin } from './commands/login.js';
import { registerMemory } from './commands/memory.js';
import { registerNode } from './commands/node.js';
import { registerSignup } from './commands/signup.js';
import { registerStatus } from './commands/status.js';
import { registerTestnet } from './commands/testnet.js';
import { registerTx } from './commands/tx.js';
import { registerUp } from './commands/up.js';
import { CliError } from './errors.js';

const program = new Command();
program
  .name('self')
  .description(
    'SELF: a sovereign personal cloud. Runs a local SELF cloud, SELF Chain nodes and test networks; as your device, keeps your keys, signs you up and reaches your private instance.',
  )
  .version('0.1.0')
  .option('--json', 'machine-readable JSON output on every command')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerKeys(program);
registerUp(program);
registerNode(program);
registerTestnet(program);
registerTx(program);
registerStatus(program);
registerSignup(program);
registerLogin(program);
registerData(program);
registerAudit(program);
registerExport(program);
registerIdentity(program);
registerChat(program);
registerMemory(program);
registerAi(program);
registerInstances(program);
registerConsent(program);
registerApps(program);
registerDev(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode);
  }
  if (err instanceof CliError) {
    console.error(`self: ${err.message}`);
    process.exit(err.exitCode);
  }
  throw err;
}
