/** The instance process: its stdin/stdout protocol, its main loop and its fast-start bundle. */
export * from './protocol.js';
export { runInstanceProcess, type ProcessIo } from './run.js';
export { instanceProcessCommand, type InstanceProcessCommand } from './bundle.js';
