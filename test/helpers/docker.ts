// Real Docker for integration tests (never mocked). Every test runs its agent under its own node
// name, and the agent labels everything it creates with `capstan.node=<node>`, so removing by
// that label removes exactly one test's objects, even while other test files share the engine.
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import Docker from 'dockerode';

/** Honours DOCKER_HOST, else the default socket /var/run/docker.sock. */
export const docker = new Docker();

export const TEST_IMAGE = 'local/busybox:1';

/**
 * Identifies one `npm test` run (test/run.sh exports CAPSTAN_TEST_RUN), so its final sweep
 * removes only its own leftovers and never objects of a run going on beside it.
 */
export const testRunId: string = process.env.CAPSTAN_TEST_RUN || randomSuffix(6);

/** Labels for objects a test creates by hand; test/run.sh sweeps them after the run. */
export function testLabels(extra: Record<string, string> = {}): Record<string, string> {
  return { 'capstan.test': 'true', 'capstan.test-run': testRunId, ...extra };
}

function randomSuffix(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length);
  let suffix = '';
  for (const byte of bytes) suffix += alphabet[byte % alphabet.length];
  return suffix;
}

/** `uniqueName('Web App')` → `web-app-k3j9x2`: valid as an app name (`^[a-z0-9][a-z0-9_-]*$`). */
export function uniqueName(prefix: string): string {
  const cleaned = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/-+$/, '');
  const suffix = randomSuffix(6);
  return cleaned ? `${cleaned}-${suffix}` : suffix;
}

/**
 * A node name for one test's agent. The `capstan-test-<run>-` prefix lets test/run.sh sweep what
 * an agent left behind when its test process was killed before its cleanup ran.
 */
export function testNodeName(): string {
  return `capstan-test-${testRunId}-${randomSuffix(6)}`;
}

function statusCodeOf(error: unknown): number | undefined {
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof statusCode === 'number' ? statusCode : undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// 404: already gone (a concurrent removal or AutoRemove). 409: "removal already in progress" or a
// container still going away; retried 10 times over 2 s before giving up.
async function removeTolerantly(remove: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await remove();
      return;
    } catch (error) {
      const statusCode = statusCodeOf(error);
      if (statusCode === 404) return;
      if (statusCode !== 409 || attempt >= 10) throw error;
      await sleep(200);
    }
  }
}

export interface CleanupReport {
  containers: number;
  networks: number;
  volumes: number;
}

/**
 * Force-removes every container, then network, then volume labelled `capstan.node=<node>`
 * (in that order, since a network or volume in use cannot be removed). Throws if any is left.
 */
export async function cleanupNode(node: string): Promise<CleanupReport> {
  // A pass can race an agent process that is still dying (a container it created after the
  // listing keeps a network or volume busy, or the engine is still releasing an endpoint): up to
  // 8 passes, 1.5 s apart, before giving up. The names of the containers removed are kept across
  // passes: a stale endpoint they left is force-disconnected by name.
  const removed = new Set<string>();
  for (let pass = 1; ; pass++) {
    try {
      return await cleanupPass(node, removed);
    } catch (error) {
      if (pass >= 8) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
  }
}

async function cleanupPass(node: string, removed: Set<string>): Promise<CleanupReport> {
  const filters = { label: [`capstan.node=${node}`] };
  const failures: unknown[] = [];
  const report: CleanupReport = { containers: 0, networks: 0, volumes: 0 };

  // Containers that joined another's network namespace (sidecars, `network_mode: service:`) go
  // first: force-removing the namespace's owner while they are still in it can leave a stale
  // endpoint behind, and the network then refuses removal ("has active endpoints").
  const containers = await docker.listContainers({ all: true, filters });
  const joined = (container: Docker.ContainerInfo) => (container.HostConfig?.NetworkMode ?? '').startsWith('container:');
  for (const group of [containers.filter(joined), containers.filter((container) => !joined(container))]) {
    await Promise.all(
      group.map(async (container) => {
        try {
          await removeTolerantly(() => docker.getContainer(container.Id).remove({ force: true, v: true }));
          for (const name of container.Names ?? []) removed.add(name.replace(/^\//, ''));
          report.containers++;
        } catch (error) {
          failures.push(error);
        }
      }),
    );
  }

  const networks = await docker.listNetworks({ filters });
  for (const network of networks) {
    try {
      // A container of another node (or an unmanaged one) may still be attached; detach it so
      // the network can go without touching the container itself.
      const handle = docker.getNetwork(network.Id);
      const details = (await handle.inspect()) as Docker.NetworkInspectInfo;
      for (const containerId of Object.keys(details.Containers ?? {})) {
        await removeTolerantly(() => handle.disconnect({ Container: containerId, Force: true }));
      }
      await removeTolerantly(() => handle.remove()).catch(async (error: unknown) => {
        // Engine 20.10 can keep the endpoint of a force-removed container ("has active
        // endpoints", listing no container): `network disconnect -f` by its name clears it.
        if (!/active endpoints/i.test(error instanceof Error ? error.message : String(error))) throw error;
        // Endpoints are named after the container when it joined: a replacement's `--next` name,
        // or the name of the replica it replaced.
        const names = [...removed].flatMap((name) => [name, name.endsWith('--next') ? name.slice(0, -'--next'.length) : `${name}--next`]);
        for (const name of new Set(names)) await handle.disconnect({ Container: name, Force: true }).catch(() => undefined);
        await removeTolerantly(() => handle.remove()).catch(async (again: unknown) => {
          // Seen on engine 20.10 under load: the network lists no container and no endpoint is
          // found by any name, yet the engine's endpoint count stays above 0 until dockerd
          // restarts. That is the engine's state, not the test's: say so and leave it.
          const left = (await handle.inspect().catch(() => undefined)) as Docker.NetworkInspectInfo | undefined;
          if (left && Object.keys(left.Containers ?? {}).length === 0 && /active endpoints/i.test(again instanceof Error ? again.message : String(again))) {
            process.stderr.write(`cleanupNode(${node}): network ${network.Name} kept by a stale endpoint count in the engine (no container on it); left in place\n`);
            return;
          }
          throw again;
        });
      });
      report.networks++;
    } catch (error) {
      if (statusCodeOf(error) !== 404) failures.push(error);
    }
  }

  const { Volumes: volumes } = await docker.listVolumes({ filters });
  for (const volume of volumes ?? []) {
    try {
      await removeTolerantly(() => docker.getVolume(volume.Name).remove({ force: true }));
      report.volumes++;
    } catch (error) {
      failures.push(error);
    }
  }

  if (failures.length > 0) {
    const why = failures.map((failure) => (failure instanceof Error ? failure.message : String(failure))).join('; ');
    throw new AggregateError(failures, `cleanupNode(${node}): ${failures.length} object(s) could not be removed: ${why}`);
  }
  return report;
}

interface HookHost {
  after(fn: () => unknown): void;
}

/**
 * Cleans up after a test even when it fails: pass a node name (its Docker objects are removed)
 * or a function. With a test context `t` the hook runs after that test, else after the file.
 *
 *   const node = testNodeName();
 *   registerCleanup(node);
 *   registerCleanup(() => stateDir.cleanup(), t);
 */
export function registerCleanup(target: string | (() => unknown), context?: HookHost): void {
  const hook = typeof target === 'string' ? () => cleanupNode(target) : target;
  if (context) context.after(hook);
  else after(hook);
}

export interface ManagedContainer {
  id: string;
  name: string;
  image: string;
  /** Docker's state: `created`, `running`, `restarting`, `exited`, … */
  state: string;
  /** Docker's human status, e.g. `Up 3 seconds (healthy)`. */
  status: string;
  labels: Record<string, string>;
  app: string | undefined;
  service: string | undefined;
  replica: string | undefined;
}

/** Containers the agent of `node` manages (`capstan.managed=true`), sorted by name. */
export async function listManaged(node: string): Promise<ManagedContainer[]> {
  const containers = await docker.listContainers({
    all: true,
    filters: { label: ['capstan.managed=true', `capstan.node=${node}`] },
  });
  return containers
    .map((container) => {
      const labels = container.Labels ?? {};
      return {
        id: container.Id,
        name: (container.Names[0] ?? '').replace(/^\//, ''),
        image: container.Image,
        state: container.State,
        status: container.Status,
        labels,
        app: labels['capstan.app'],
        service: labels['capstan.service'],
        replica: labels['capstan.replica'],
      };
    })
    .sort((left, right) => left.name.localeCompare(right.name));
}

export class WaitTimeoutError extends Error {
  constructor(what: string, timeoutMs: number, attempts: number, options?: { cause?: unknown }) {
    super(`timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${what}`, options);
    this.name = 'WaitTimeoutError';
  }
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Named in the timeout message: "waiting for web to be healthy". */
  what?: string;
}

/**
 * Polls `probe` until it returns a truthy value, and returns that value. A probe that throws is
 * retried (Docker answers 404 while objects come and go); the last error becomes the timeout's
 * cause. Bounded in time even when one probe call hangs.
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  { timeoutMs = 30_000, intervalMs = 250, what = 'condition' }: WaitOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  let lastError: unknown;
  while (Date.now() < deadline) {
    attempts++;
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
    });
    try {
      const result = await Promise.race([Promise.resolve().then(probe), outOfTime]);
      if (result === 'timeout') break;
      if (result) return result as NonNullable<T>;
    } catch (error) {
      lastError = error;
    } finally {
      clearTimeout(timer);
    }
    await sleep(Math.max(0, Math.min(intervalMs, deadline - Date.now())));
  }
  throw new WaitTimeoutError(what, timeoutMs, attempts, lastError === undefined ? undefined : { cause: lastError });
}

export interface UnmanagedContainerOptions {
  image?: string;
  cmd?: string[];
  /** Added to the test labels, e.g. `capstan.app` to look like an app the agent might claim. */
  labels?: Record<string, string>;
}

/**
 * Starts a container by hand, labelled `capstan.test=true` but not `capstan.managed`, to prove
 * the agent leaves alone what it does not own. Remove it with `removeContainer`.
 */
export async function runUnmanagedContainer(
  name: string,
  { image = TEST_IMAGE, cmd = ['sleep', '3600'], labels = {} }: UnmanagedContainerOptions = {},
): Promise<{ id: string; name: string }> {
  const container = await docker.createContainer({
    name,
    Image: image,
    Cmd: cmd,
    Labels: testLabels(labels),
  });
  await container.start();
  return { id: container.id, name };
}

export async function removeContainer(containerIdOrName: string): Promise<void> {
  await removeTolerantly(() => docker.getContainer(containerIdOrName).remove({ force: true, v: true }));
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

// demuxStream only ever calls write(), synchronously, as each frame arrives.
function collector(chunks: Buffer[]): NodeJS.WritableStream {
  const write = (chunk: string | Uint8Array) => chunks.push(Buffer.from(chunk)) > 0;
  return { write } as unknown as NodeJS.WritableStream;
}

/** Runs `cmd` in a running container, e.g. `exec(id, ['wget', '-qO-', 'http://127.0.0.1:8080/'])`. */
export async function exec(
  containerId: string,
  cmd: string[],
  { timeoutMs = 30_000, user }: { timeoutMs?: number; user?: string } = {},
): Promise<ExecResult> {
  const execution = await docker.getContainer(containerId).exec({
    Cmd: cmd,
    User: user,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await execution.start({ hijack: true, stdin: false });
  const stdoutChunks: Buffer[] = [];
  const stderrChunks: Buffer[] = [];
  docker.modem.demuxStream(stream, collector(stdoutChunks), collector(stderrChunks));

  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => {
        (stream as { destroy?: () => void }).destroy?.();
        reject(new Error(`exec ${JSON.stringify(cmd)} in ${containerId} still running after ${timeoutMs} ms`));
      }, timeoutMs);
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
  } finally {
    clearTimeout(timer);
  }

  // The stream can end a moment before the engine records the exit code.
  const inspected = await waitFor(
    async () => {
      const info = await execution.inspect();
      return info.Running ? undefined : info;
    },
    { timeoutMs: 5_000, intervalMs: 50, what: `exit code of ${JSON.stringify(cmd)}` },
  );
  return {
    exitCode: inspected.ExitCode ?? -1,
    stdout: Buffer.concat(stdoutChunks).toString('utf8'),
    stderr: Buffer.concat(stderrChunks).toString('utf8'),
  };
}
