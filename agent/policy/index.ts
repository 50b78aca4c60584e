export { DEFAULT_CAPABILITIES, DEFAULT_POLICY, DEFAULT_RUNTIMES, type HostPolicy } from './schema.js';
export type { PolicyFile } from './file-schema.js';
export { parsePolicy, readPolicyFile } from './file.js';
export { fieldRefusals, policyRefusals, type PolicyGrant, type PolicyRefusal } from './check.js';
export { createHostPathCheck, hostPathRefusal, resolveHostPath, type HostFs, type HostPathCheck } from './host-paths.js';
export { READ_ONLY_HOST_FILES } from './schema.js';
