import { Command } from 'commander';
import type { ConfigFlags } from './config.js';
import { TARGET_NAMES, TARGETS } from '../targets/index.js';

/** The agent settings every command that talks to the repository or state accepts. */
export function withConfigOptions(command: Command): Command {
  return command
    .option('--repo <url-or-path>', 'manifests repository: HTTPS URL or local path (CAPSTAN_REPO)')
    .option('--branch <name>', 'branch to deploy (CAPSTAN_BRANCH, default main)')
    .option('--path <dir>', 'folder in the repository holding the manifests (CAPSTAN_PATH, default .)')
    .option('--schedule <cron>', 'cron expression for cycles (CAPSTAN_SCHEDULE, default every minute)')
    .option('--state-dir <dir>', 'SQLite database and git cache (CAPSTAN_STATE_DIR)')
    .option('--key-file <file>', 'key file for encrypted env files (CAPSTAN_KEY_FILE)')
    .option('--age-key-file <file>', 'age identities for SOPS files (CAPSTAN_AGE_KEY_FILE, else SOPS_AGE_KEY_FILE)')
    .option('--sops-pgp-key-file <file>', 'OpenPGP secret keys for SOPS files, without a passphrase (CAPSTAN_SOPS_PGP_KEY_FILE)')
    .option('--policy-file <file>', 'host policy: what manifests may ask of this host (CAPSTAN_POLICY_FILE)')
    .option('--node <name>', 'this agent\'s node name (CAPSTAN_NODE, default the host name)')
    .option('--node-labels <k=v,…>', 'fleet mode: this node\'s labels, matched by `placement.labels` (CAPSTAN_NODE_LABELS)')
    .option('--metrics-file <file>', 'Prometheus textfile rewritten after each cycle (CAPSTAN_METRICS_FILE, default <state-dir>/metrics.prom)')
    .option('--notify <targets>', 'notification targets, e.g. "ntfy+https://ntfy.example/capstan" (CAPSTAN_NOTIFY)')
    .option('--trust-file <file>', 'allowed signers: deploy only commits they signed (CAPSTAN_TRUST_FILE)')
    .option('--verify <what>', 'with a trust file: `commit` (the branch head) or `tag` (a signed tag on it) (CAPSTAN_VERIFY)')
    .option('--tag-pattern <glob>', 'with --verify tag: which tag names count, e.g. "v*" (CAPSTAN_TAG_PATTERN)')
    .option('--allow-rewind', 'accept a new head older than the applied commit (CAPSTAN_ALLOW_REWIND)')
    .option('--target <where>', `${TARGET_NAMES.map((name) => `\`${name}\`: ${TARGETS[name].description}`).join('; ')} (CAPSTAN_TARGET, default containers)`)
    .option('--max-manifest-bytes <size>', 'largest manifest, Compose or env file the loader reads, e.g. 2m (CAPSTAN_MAX_MANIFEST_BYTES, default 1m)')
    .option('--max-tree-bytes <size>', 'most bytes of such files one commit may hold (CAPSTAN_MAX_TREE_BYTES, default 16m)')
    .option('--network-isolation <mode>', '`verify` the engine isolates each network before a replica joins it, or `off` where the operator isolates them another way (CAPSTAN_NETWORK_ISOLATION, default verify)')
    .option('--image-update-interval <duration>', 'how often the registry is checked for services with `update.image`, unless a service sets `update.interval` (CAPSTAN_IMAGE_UPDATE_INTERVAL, default 6h)');
}

export function configFlags(options: Record<string, unknown>): ConfigFlags {
  const flags: ConfigFlags = {};
  for (const key of ['repo', 'branch', 'path', 'schedule', 'stateDir', 'keyFile', 'ageKeyFile', 'sopsPgpKeyFile', 'policyFile', 'node', 'nodeLabels', 'metricsFile', 'notify', 'trustFile', 'verify', 'tagPattern', 'target', 'maxManifestBytes', 'maxTreeBytes', 'networkIsolation', 'imageUpdateInterval'] as const) {
    if (typeof options[key] === 'string') flags[key] = options[key] as string;
  }
  if (options.allowRewind === true) flags.allowRewind = true;
  return flags;
}
