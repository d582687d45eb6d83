/** Running people's instances: the Provisioner contract and the local instance manager. */
export type {
  AppTokenIssuer,
  InstanceRequest,
  InstanceResponse,
  InstanceSpec,
  InstanceState,
  InstanceStatus,
  Placement,
  Provisioner,
  Tier,
} from './types.js';
export { ProvisionerError, isProvisionerError, type ProvisionerErrorCode } from './errors.js';
export {
  LocalProvisioner,
  aiConnectionFor,
  type CloudAiConfig,
  type LocalProvisionerOptions,
} from './local-provisioner.js';
export { instanceIdFor } from './instance-dirs.js';
export { chooseSandbox, findBwrap, type Sandbox, type SandboxMode } from './sandbox.js';
