import { parse as parseDotenv } from 'dotenv';
import { existsSync, readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { validate as validateCron } from 'node-cron';
import { CapstanError } from '../errors.js';
import { parseNodeLabels } from '../fleet/placement.js';
import { DEFAULT_READ_LIMITS, type ReadLimits } from '../load/files/read-text.js';
import { isTargetName, TARGET_NAMES, type TargetName } from '../targets/index.js';

export interface AgentConfig {
  repo: string;
  branch: string;
  path: string;
  schedule: string;
  stateDir: string;
  keyFile?: string;
  /** SOPS files: age identities (CAPSTAN_AGE_KEY_FILE, else SOPS's SOPS_AGE_KEY_FILE). */
  ageKeyFile?: string;
  /** SOPS files: unprotected OpenPGP secret keys, armored or binary (CAPSTAN_SOPS_PGP_KEY_FILE). */
  sopsPgpKeyFile?: string;
  /** Host policy: what manifests may ask of this host (agent/policy); absent, the defaults refuse it all. */
  policyFile?: string;
  node: string;
  /** Fleet mode: this node's labels, matched by manifests' `placement.labels`. */
  nodeLabels: Record<string, string>;
  /** HTTPS token; only ever handed to the git client's auth callback. */
  gitToken?: string;
  gitUsername?: string;
  allowEmpty: boolean;
  /** Prometheus textfile, rewritten after every cycle. */
  metricsFile: string;
  /** Notification targets, `KIND+URL …` (agent/notify/README.md). */
  notify?: string;
  /** Allowed signers; when set, only commits (or tags) they signed are deployed. */
  trustFile?: string;
  verify: 'commit' | 'tag';
  tagPattern: string;
  allowRewind: boolean;
  /** Where desired state is converged: this engine's containers, or Swarm services (on a manager); see agent/targets/index.ts. */
  target: TargetName;
  /** Hostile-input bounds of the loader (load/files/read-text.ts). */
  readLimits: ReadLimits;
  /**
   * `verify` (default): a network gets no replica unless the engine's isolation rules are read
   * back from this host's iptables (agent/targets/containers/execute-isolation.ts). `off`: the operator enforces
   * isolation another way (an engine run with `--iptables=false` behind their own firewall).
   */
  networkIsolation: 'verify' | 'off';
  /** Services with `update.image` are checked against their registry this often unless they set `update.interval`. */
  imageUpdateIntervalMs: number;
}

/** Flag name (commander's camelCase) → environment variable, for the documented settings. */
const SETTINGS = {
  repo: 'CAPSTAN_REPO',
  branch: 'CAPSTAN_BRANCH',
  path: 'CAPSTAN_PATH',
  schedule: 'CAPSTAN_SCHEDULE',
  stateDir: 'CAPSTAN_STATE_DIR',
  keyFile: 'CAPSTAN_KEY_FILE',
  ageKeyFile: 'CAPSTAN_AGE_KEY_FILE',
  sopsPgpKeyFile: 'CAPSTAN_SOPS_PGP_KEY_FILE',
  policyFile: 'CAPSTAN_POLICY_FILE',
  node: 'CAPSTAN_NODE',
  nodeLabels: 'CAPSTAN_NODE_LABELS',
  gitToken: 'CAPSTAN_GIT_TOKEN',
  gitUsername: 'CAPSTAN_GIT_USERNAME',
  allowEmpty: 'CAPSTAN_ALLOW_EMPTY',
  metricsFile: 'CAPSTAN_METRICS_FILE',
  notify: 'CAPSTAN_NOTIFY',
  trustFile: 'CAPSTAN_TRUST_FILE',
  verify: 'CAPSTAN_VERIFY',
  tagPattern: 'CAPSTAN_TAG_PATTERN',
  allowRewind: 'CAPSTAN_ALLOW_REWIND',
  target: 'CAPSTAN_TARGET',
  maxManifestBytes: 'CAPSTAN_MAX_MANIFEST_BYTES',
  maxTreeBytes: 'CAPSTAN_MAX_TREE_BYTES',
  networkIsolation: 'CAPSTAN_NETWORK_ISOLATION',
  imageUpdateInterval: 'CAPSTAN_IMAGE_UPDATE_INTERVAL',
} as const;

export type ConfigFlags = Partial<Record<keyof typeof SETTINGS, string | boolean>>;

export function defaultStateDir(): string {
  return process.getuid?.() === 0 ? '/var/lib/capstan' : join(homedir(), '.local', 'state', 'capstan');
}

/**
 * Configuration comes from flags, then environment variables, then a `.env` file in the
 * working directory (read with dotenv, without touching process.env), then defaults.
 */
export function resolveConfig(
  flags: ConfigFlags,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
  options: { requireRepo?: boolean } = {},
): AgentConfig {
  const dotenvFile = join(cwd, '.env');
  const fileEnv = existsSync(dotenvFile) ? parseDotenv(readFileSync(dotenvFile)) : {};
  const pick = (key: keyof typeof SETTINGS): string | undefined => {
    const flag = flags[key];
    if (flag !== undefined) return String(flag);
    return env[SETTINGS[key]] ?? fileEnv[SETTINGS[key]] ?? undefined;
  };

  const repo = pick('repo') ?? '';
  if (options.requireRepo !== false && !repo) {
    throw new CapstanError('CONFIG_INVALID', 'terminal', 'no repository configured: pass --repo or set CAPSTAN_REPO (an HTTPS URL or a local path)');
  }
  const schedule = pick('schedule') ?? '* * * * *';
  if (!validateCron(schedule)) {
    throw new CapstanError('CONFIG_INVALID', 'terminal', `invalid --schedule / CAPSTAN_SCHEDULE cron expression '${schedule}'`);
  }
  const keyFile = pick('keyFile');
  // SOPS's own variable too, so a host already set up for `sops --decrypt` needs nothing new.
  const ageKeyFile = pick('ageKeyFile') ?? env.SOPS_AGE_KEY_FILE ?? fileEnv.SOPS_AGE_KEY_FILE;
  const sopsPgpKeyFile = pick('sopsPgpKeyFile');
  const policyFile = pick('policyFile');
  const verify = pick('verify') ?? 'commit';
  if (verify !== 'commit' && verify !== 'tag') {
    throw new CapstanError('CONFIG_INVALID', 'terminal', `--verify / CAPSTAN_VERIFY must be 'commit' or 'tag', not '${verify}'`);
  }
  const target = pick('target') ?? 'containers';
  if (!isTargetName(target)) {
    throw new CapstanError('CONFIG_INVALID', 'terminal', `--target / CAPSTAN_TARGET must be ${TARGET_NAMES.map((name) => `'${name}'`).join(' or ')}, not '${target}'`);
  }
  const networkIsolation = pick('networkIsolation') ?? 'verify';
  if (networkIsolation !== 'verify' && networkIsolation !== 'off') {
    throw new CapstanError('CONFIG_INVALID', 'terminal', `--network-isolation / CAPSTAN_NETWORK_ISOLATION must be 'verify' or 'off', not '${networkIsolation}'`);
  }
  const stateDir = resolve(cwd, pick('stateDir') ?? defaultStateDir());
  const trustFile = pick('trustFile');
  const metricsFile = pick('metricsFile');
  return {
    repo: isUrl(repo) || !repo ? repo : resolve(cwd, repo),
    branch: pick('branch') ?? 'main',
    path: pick('path') ?? '.',
    schedule,
    stateDir,
    keyFile: keyFile ? resolve(cwd, keyFile) : undefined,
    ageKeyFile: ageKeyFile ? resolve(cwd, ageKeyFile) : undefined,
    sopsPgpKeyFile: sopsPgpKeyFile ? resolve(cwd, sopsPgpKeyFile) : undefined,
    policyFile: policyFile ? resolve(cwd, policyFile) : undefined,
    node: pick('node') ?? hostname(),
    nodeLabels: nodeLabels(pick('nodeLabels')),
    gitToken: pick('gitToken') || undefined,
    gitUsername: pick('gitUsername') || undefined,
    allowEmpty: isTrue(pick('allowEmpty')),
    metricsFile: metricsFile ? resolve(cwd, metricsFile) : join(stateDir, 'metrics.prom'),
    notify: pick('notify') || undefined,
    trustFile: trustFile ? resolve(cwd, trustFile) : undefined,
    verify,
    tagPattern: pick('tagPattern') ?? '*',
    allowRewind: isTrue(pick('allowRewind')),
    target,
    networkIsolation,
    readLimits: readLimits(pick('maxManifestBytes'), pick('maxTreeBytes')),
    imageUpdateIntervalMs: imageUpdateInterval(pick('imageUpdateInterval')),
  };
}

/** `--image-update-interval`: `6h` (default), `30m`, `1d`; at least a minute, at most a year. */
function imageUpdateInterval(text: string | undefined): number {
  if (text === undefined || text === '') return 6 * 3_600_000;
  const match = /^([0-9]{1,6})(s|m|h|d)$/.exec(text.trim());
  const ms = match ? Number(match[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'] : Number.NaN;
  if (!(ms >= 60_000 && ms <= 366 * 86_400_000)) {
    throw new CapstanError('CONFIG_INVALID', 'terminal', `invalid --image-update-interval / CAPSTAN_IMAGE_UPDATE_INTERVAL '${text}': use a duration from 1m to 366d, such as 30m, 6h or 1d`);
  }
  return ms;
}

/** `--max-manifest-bytes` / `--max-tree-bytes`: bytes, or with a unit (`2m`, `512k`). */
export function readLimits(manifest: string | undefined, tree: string | undefined): ReadLimits {
  const parse = (text: string | undefined, flag: string, fallback: number): number => {
    if (text === undefined || text === '') return fallback;
    const match = /^([0-9]+)\s*([kmg]?)i?b?$/i.exec(text.trim());
    const bytes = match ? Number(match[1]) * 1024 ** ' kmg'.indexOf((match[2] || ' ').toLowerCase()) : Number.NaN;
    if (!Number.isSafeInteger(bytes) || bytes < 1) {
      throw new CapstanError('CONFIG_INVALID', 'terminal', `invalid ${flag} '${text}': use a number of bytes, or with a unit such as 512k, 2m, 1g`);
    }
    return bytes;
  };
  return {
    maxManifestBytes: parse(manifest, '--max-manifest-bytes / CAPSTAN_MAX_MANIFEST_BYTES', DEFAULT_READ_LIMITS.maxManifestBytes),
    maxTreeBytes: parse(tree, '--max-tree-bytes / CAPSTAN_MAX_TREE_BYTES', DEFAULT_READ_LIMITS.maxTreeBytes),
  };
}

function nodeLabels(text: string | undefined): Record<string, string> {
  try {
    return parseNodeLabels(text);
  } catch (error) {
    throw new CapstanError('CONFIG_INVALID', 'terminal', `--node-labels / CAPSTAN_NODE_LABELS: ${(error as Error).message}`);
  }
}

function isTrue(value: string | undefined): boolean {
  return ['1', 'true', 'yes'].includes((value ?? '').toLowerCase());
}

function isUrl(value: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value);
}
