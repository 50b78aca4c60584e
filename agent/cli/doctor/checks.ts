import type Docker from 'dockerode';
import { constants, promises as fsp } from 'node:fs';
import { loadKeyring } from '../../../secrets/index.js';
import { CapstanError } from '../../errors.js';
import type { Reconciler } from '../../reconcile.js';
import { loadTrustFile } from '../../trust/index.js';
import type { AgentConfig } from '../config.js';
import type { IsolationCheck } from '../../targets/containers/execute-isolation.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
}

const GiB = 1024 ** 3;

/** Each check answers one question a new install gets wrong; none changes the host. */
export async function dockerCheck(docker: Docker): Promise<CheckResult> {
  try {
    const version = await docker.version();
    return { name: 'docker', status: 'ok', detail: `engine ${version.Version}, API ${version.ApiVersion}` };
  } catch (error) {
    return { name: 'docker', status: 'fail', detail: `no Docker engine answers (${reason(error)}); start dockerd or set DOCKER_HOST` };
  }
}

export async function stateDirCheck(config: AgentConfig): Promise<CheckResult> {
  try {
    await fsp.mkdir(config.stateDir, { recursive: true });
    await fsp.access(config.stateDir, constants.W_OK);
    return { name: 'state directory', status: 'ok', detail: `${config.stateDir} is writable` };
  } catch (error) {
    return { name: 'state directory', status: 'fail', detail: `${config.stateDir} is not writable (${reason(error)})` };
  }
}

export async function keyFileCheck(config: AgentConfig): Promise<CheckResult> {
  const name = 'key file';
  if (!config.keyFile) return { name, status: 'ok', detail: 'none configured (only needed for encrypted env files)' };
  try {
    // The agent's own rule (secrets/keyring.ts): what doctor passes, the agent loads.
    const keyring = await loadKeyring(config.keyFile);
    const mode = ((await fsp.stat(config.keyFile)).mode & 0o777).toString(8).padStart(4, '0');
    return { name, status: 'ok', detail: `${config.keyFile}: mode ${mode}, ${keyring.keys.length} key(s)` };
  } catch (error) {
    return { name, status: 'fail', detail: error instanceof CapstanError ? `${error.code}: ${error.message}` : `${config.keyFile}: ${reason(error)}` };
  }
}

export async function trustFileCheck(config: AgentConfig): Promise<CheckResult> {
  const name = 'trust file';
  if (!config.trustFile) return { name, status: 'warn', detail: 'none configured: any commit pushed to the branch is deployed (see --trust-file)' };
  try {
    const signers = await loadTrustFile(await import('node:fs'), config.trustFile);
    return { name, status: 'ok', detail: `${config.trustFile}: ${signers.length} signer(s), verifying ${config.verify === 'tag' ? `tags matching ${config.tagPattern}` : 'the branch head'}` };
  } catch (error) {
    return { name, status: 'fail', detail: reason(error) };
  }
}

/** Every network this node's Capstan manages must be isolated by the engine (agent/targets/containers/execute-isolation.ts). */
export async function networkIsolationCheck(docker: Docker, node: string, isolation: IsolationCheck | undefined, mode: 'verify' | 'off' = 'verify'): Promise<CheckResult> {
  const name = 'network isolation';
  if (mode === 'off') return { name, status: 'warn', detail: 'not verified: turned off (--network-isolation off / CAPSTAN_NETWORK_ISOLATION=off); the operator isolates networks' };
  if (!isolation) return { name, status: 'warn', detail: 'not verified: the engine is not on this host (DOCKER_HOST), so its firewall rules cannot be read' };
  try {
    const networks = await docker.listNetworks({ filters: { label: ['capstan.managed=true', `capstan.node=${node}`] } });
    const exposed: string[] = [];
    const unknown: string[] = [];
    for (const network of networks) {
      const verdict = await isolation.verdict(network.Name);
      if (verdict.state === 'exposed') exposed.push(`${network.Name} (${verdict.reason})`);
      if (verdict.state === 'unknown') unknown.push(`${network.Name} (${verdict.reason})`);
    }
    if (exposed.length > 0) return { name, status: 'fail', detail: `not isolated by the engine: ${exposed.join('; ')}; restart dockerd to restore its rules and check it runs with iptables enabled` };
    if (unknown.length > 0) return { name, status: 'warn', detail: `not verified: ${unknown.join('; ')}` };
    return { name, status: 'ok', detail: `${networks.length} network(s), each isolated by the engine's firewall rules` };
  } catch (error) {
    return { name, status: 'fail', detail: `cannot check (${reason(error)})` };
  }
}

/** Fetches and loads the head commit exactly as a cycle would, without applying anything. */
export async function repositoryChecks(reconciler: Reconciler): Promise<CheckResult[]> {
  try {
    const { checkout, desired, plan } = await reconciler.preview();
    const services = desired.apps.reduce((count, app) => count + app.services.length, 0);
    return [
      { name: 'repository', status: 'ok', detail: `head ${checkout.commit.slice(0, 12)}: "${checkout.message}" by ${checkout.author}` },
      { name: 'manifests', status: 'ok', detail: `${desired.apps.length} app(s), ${services} service(s) load and validate` },
      {
        name: 'plan',
        status: plan.problems.length > 0 ? 'fail' : 'ok',
        detail: plan.problems.length > 0 ? plan.problems.map((problem) => problem.message).join('; ') : `${plan.operations.length} operation(s) pending`,
      },
      clockCheck(checkout.committedAt),
    ];
  } catch (error) {
    const code = error instanceof CapstanError ? error.code : '';
    const name = code.startsWith('GIT_') ? 'repository' : 'manifests';
    return [{ name, status: 'fail', detail: reason(error) }];
  }
}

/**
 * A head committed in the future means this host's clock is behind (or the committer's is
 * ahead): cron schedules, certificate checks and signature validity all depend on the clock.
 */
export function clockCheck(committedAt: string, now = Date.now()): CheckResult {
  const aheadMs = Date.parse(committedAt) - now;
  if (new Date(now).getUTCFullYear() < 2024) return { name: 'clock', status: 'fail', detail: `the clock says ${new Date(now).toISOString()}` };
  if (aheadMs > 5 * 60_000) {
    return { name: 'clock', status: 'warn', detail: `the head commit is dated ${Math.round(aheadMs / 60_000)} min in the future: is this host's clock behind? (run NTP)` };
  }
  return { name: 'clock', status: 'ok', detail: new Date(now).toISOString() };
}

/** Images and containers live under Docker's root; pulls fail late and messily on a full disk. */
export async function diskCheck(docker: Docker, stateDir: string): Promise<CheckResult> {
  let where = stateDir;
  try {
    const info = await docker.info();
    if (info.DockerRootDir) where = await fsp.access(info.DockerRootDir).then(() => info.DockerRootDir as string, () => stateDir);
  } catch {
    // Docker unreachable is its own check; measure the state directory instead.
  }
  try {
    const stats = await fsp.statfs(where);
    const free = stats.bavail * stats.bsize;
    const share = stats.bavail / stats.blocks;
    const detail = `${(free / GiB).toFixed(1)} GiB free (${Math.round(share * 100)}%) at ${where}`;
    if (free < 1 * GiB || share < 0.05) return { name: 'disk', status: 'fail', detail: `${detail}: too little for image pulls` };
    if (free < 5 * GiB || share < 0.1) return { name: 'disk', status: 'warn', detail };
    return { name: 'disk', status: 'ok', detail };
  } catch (error) {
    return { name: 'disk', status: 'warn', detail: `cannot measure free space at ${where} (${reason(error)})` };
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0] : String(error);
}
