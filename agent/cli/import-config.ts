import * as fs from 'node:fs';
import type { AgentConfig } from './config.js';
import { loadKeyring } from '../../secrets/index.js';
import { readPolicyFile } from '../policy/index.js';
import { loadHashKey } from '../state/hash-key.js';
import { loadTrustFile } from '../trust/index.js';
import { BundleErrorCode, bundleError } from '../bundle/format.js';
import type { ImportConfig } from '../bundle/import.js';

/** What import needs from the agent's settings; the trust file is required and read afresh each time. */
export async function importConfig(config: AgentConfig, file: string): Promise<ImportConfig> {
  if (!config.trustFile) {
    throw bundleError(BundleErrorCode.configInvalid, file, 'importing needs a trust file (--trust-file / CAPSTAN_TRUST_FILE) listing who may sign bundles');
  }
  return {
    repo: config.repo,
    branch: config.branch,
    stateDir: config.stateDir,
    signers: await loadTrustFile(fs, config.trustFile),
    allowRewind: config.allowRewind,
    load: {
      path: config.path,
      hashKey: () => loadHashKey(config.stateDir),
      keyring: config.keyFile ? () => loadKeyring(config.keyFile as string) : undefined,
      policy: config.policyFile ? () => readPolicyFile(config.policyFile as string) : undefined,
    },
  };
}
