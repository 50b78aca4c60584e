export { DEFAULT_POLICY, type HostPolicy } from './schema.js';
export { parsePolicy, readPolicyFile } from './file.js';
export { policyRefusals } from './check.js';
export { createHostPathCheck } from './host-paths.js';
