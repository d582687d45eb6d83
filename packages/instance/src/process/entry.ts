/** The instance process's entry point: `node bin/instance.js`, or the bundle built from this file. */
import { runInstanceProcess } from './run.js';

void runInstanceProcess();
