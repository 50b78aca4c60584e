import * as fs from 'node:fs';
import { join } from 'node:path';
import http from 'isomorphic-git/http/node';
import { loadKeyring } from '../../secrets/keyring.js';
import { loadSopsKeys } from '../../secrets/sops/index.js';
import { systemClock, type Clock } from '../clock.js';
import type Docker from 'dockerode';
import { connectDocker } from '../docker.js';
import { createIsolationCheck, engineIsLocal, readHostRules, type IsolationCheck } from '../targets/containers/execute-isolation.js';
import type { Logger } from '../log.js';
import { DEFAULT_POLICY, readPolicyFile, type HostPolicy } from '../policy/index.js';
import { shareOf } from '../fleet/placement.js';
import { Reconciler, type OperatorControl, type ReconcilerDeps } from '../reconcile.js';
import { ControlStore } from '../control/store.js';
import { suspendedApps } from '../control/decide.js';
import { SecretRegistry } from '../secret-registry.js';
import { TARGETS } from '../targets/index.js';
import type { Target } from '../targets/target.js';
import { createGitSource } from '../source/index.js';
import { readCommitInfo } from '../source/objects.js';
import { openDb, type Db } from '../state/db.js';
import { loadHashKey } from '../state/hash-key.js';
import { StateStore } from '../state/store.js';
import type { AgentConfig } from './config.js';
import { incrementCounter } from '../metrics/counters.js';
import { newEvent, Notifier, parseNotifyTargets } from '../notify/index.js';
import { resticEnvironment } from '../storage/repositories.js';
import { resticRunner } from '../storage/restic.js';
import { StorageStore } from '../storage/store.js';
import { StorageTarget } from '../storage/target.js';
import { VolumeStorage } from '../storage/volumes.js';
import { JobRunner } from '../jobs/runner.js';
import { JobRunStore } from '../jobs/store.js';
import { execute } from '../targets/containers/execute.js';
import { createHostPathCheck } from '../policy/host-paths.js';
import { createMountCopies } from '../source/mount-copies.js';
import { ImageUpdates, ImageUpdateStore } from '../image-updates/index.js';
import { dockerConfigReader } from '../targets/registry-auth.js';
import { createUpdateLocks } from '../deferral/locks.js';

// The composition root: the only place that wires real Docker, git, the clock and the
// logger into the stages. Everything else receives them as parameters.

export { openState, openStore } from '../state/open.js';

/**
 * `secrets`: the process's registry of decrypted values, shared with the logger that `logger`
 * came from (`createLogger({ redact })`), so log lines, the journal and outcomes are scrubbed.
 */
/**
 * `control`: what operators set on the host (agent/control/). `clock`: the cycle's own (deploy
 * windows and update locks are decided against it, cycle times are measured with it); the targets
 * and git keep the system clock. Tests inject one.
 */
export async function createReconciler(
  config: AgentConfig,
  store: StateStore,
  logger: Logger,
  secrets: SecretRegistry = new SecretRegistry(),
  control?: OperatorControl,
  clock: Clock = systemClock,
): Promise<Reconciler> {
  const tagMode = config.trustFile !== undefined && config.verify === 'tag';
  const source = createGitSource(
    { repo: config.repo, branch: config.branch, stateDir: config.stateDir, token: config.gitToken, username: config.gitUsername },
    {
      fs,
      http,
      logger: logger.child({ stage: 'source' }),
      clock: systemClock,
      // The cache is single-branch; signed-tag deploys need the tags that name the head, and
      // those of a commit `capstan pin` holds the host on (an older release in an emergency).
      afterFetch: tagMode
        ? async (context) => {
          const { fetchTagsAt } = await import('../trust/index.js');
          const pinned = control?.pinnedCommit() ?? null;
          const commits = pinned !== null && pinned !== context.commit ? [context.commit, pinned] : [context.commit];
          await fetchTagsAt({ ...context, commits, tagPattern: config.tagPattern });
        }
        : undefined,
    },
  );
  const hashKey = loadHashKey(config.stateDir);
  return new Reconciler({
    source,
    target: await createTarget(config, store, hashKey, secrets, logger),
    store,
    logger,
    clock,
    node: config.node,
    path: config.path,
    hashKey,
    // Read whenever a new commit is loaded, so a key added to the file (rotation) needs no restart.
    keyring: config.keyFile ? () => loadKeyring(config.keyFile as string) : undefined,
    sopsKeys: config.ageKeyFile || config.sopsPgpKeyFile ? () => loadSopsKeys({ ageKeyFile: config.ageKeyFile, pgpKeyFile: config.sopsPgpKeyFile }) : undefined,
    // Read at each load too, so a policy edit needs no restart; a broken one fails the load.
    policy: config.policyFile ? hostPolicy(config) : undefined,
    readLimits: config.readLimits,
    verify: config.trustFile ? trustVerifier(config) : undefined,
    secrets,
    describeCommit: async (commit) => readCommitInfo({ fs, gitdir: await source.gitdir(), cache: {} }, commit),
    updateLocks: createUpdateLocks(config.stateDir),
    // Fleet mode: each agent converges its own share; Swarm places services itself.
    share: TARGETS[config.target].fleetShare ? (desired) => shareOf(desired, { name: config.node, labels: config.nodeLabels }) : undefined,
    control,
    imageUpdates: new ImageUpdates({
      store: new ImageUpdateStore(store.database, config.node),
      fetch: globalThis.fetch,
      clock: systemClock,
      hashKey,
      defaultIntervalMs: config.imageUpdateIntervalMs,
      readDockerConfig: dockerConfigReader(),
      localDigests: localDigests(connectDocker()),
    }),
  });
}

/** The digests the engine knows an image by; none when it is not here. */
function localDigests(docker: Docker): (image: string) => Promise<string[]> {
  return async (image) => {
    const info = await docker.getImage(image).inspect().catch(() => undefined);
    return info?.RepoDigests ?? [];
  };
}

/** `capstan suspend`/`pin` as the cycle reads them, from the state database (agent/control/). */
export function operatorControl(db: Db, node: string): OperatorControl {
  const control = new ControlStore(db, node);
  return {
    suspendedApps: () => suspendedApps(control.suspensions()),
    pinnedCommit: () => control.pinned()?.commit ?? null,
    pinChecked: (commit, view) => control.pinChecked(commit, view),
  };
}

/** `--target`: one registration per target (agent/targets/index.ts), given the real engine and files. */
async function createTarget(config: AgentConfig, store: StateStore, hashKey: Uint8Array, secrets: SecretRegistry, logger: Logger): Promise<Target> {
  const docker = connectDocker();
  const registration = TARGETS[config.target];
  const target = await registration.create({
    docker,
    store,
    clock: systemClock,
    node: config.node,
    allowEmpty: config.allowEmpty,
    stateDir: config.stateDir,
    hashKey,
    redact: (text) => secrets.redact(text),
    fs,
    policy: hostPolicy(config),
    isolation: () => hostIsolationCheck(docker, config),
  });
  // Volumes with `snapshot:` follow their service (agent/storage); others are untouched.
  return registration.volumeStorage ? new StorageTarget(target, createVolumeStorage(config, docker, secrets, logger), config.allowEmpty) : target;
}

/**
 * Network isolation is read from this host's iptables, so only for an engine on this host, and
 * not when the operator turned the check off (`--network-isolation off`).
 */
export function hostIsolationCheck(docker: Docker, config: Pick<AgentConfig, 'networkIsolation'>): IsolationCheck | undefined {
  return config.networkIsolation !== 'off' && engineIsLocal(process.env) ? createIsolationCheck({ docker, readRules: readHostRules, clock: systemClock }) : undefined;
}

/**
 * Signature policy from the host's trust file, read again each cycle so edits need no restart.
 * agent/trust/ (16 modules) loads only on a host with a trust file.
 */
function trustVerifier(config: AgentConfig): NonNullable<ReconcilerDeps['verify']> {
  return async ({ commit, gitdir, appliedCommit, appliedCommittedAt, pinned }) => {
    const { loadTrustFile, verifyRevision } = await import('../trust/index.js');
    const signers = await loadTrustFile(fs, config.trustFile as string);
    return verifyRevision({
      fs,
      gitdir,
      commit,
      // An operator's pin (or rollback) goes back on purpose: its signature is checked, not its age.
      policy: { signers, mode: config.verify, tagPattern: config.tagPattern, allowRewind: config.allowRewind || pinned === true },
      appliedCommit,
      appliedCommittedAt,
      clock: systemClock,
    });
  };
}

/** The host policy file, read at each use so an edit needs no restart; without one, the defaults. */
function hostPolicy(config: AgentConfig): () => Promise<HostPolicy> {
  return config.policyFile ? () => readPolicyFile(config.policyFile as string) : () => Promise.resolve(DEFAULT_POLICY);
}

/**
 * Snapshots, restores and hand-overs of volumes (agent/storage): restic with the policy file's
 * repositories, the storage table and counters in the state database (a connection of its
 * own), failures queued as `volume-failed` notifications.
 */
export function createVolumeStorage(config: AgentConfig, docker: Docker, secrets: SecretRegistry, logger: Logger): VolumeStorage {
  let db: Db | undefined;
  const database = () => (db ??= openDb(join(config.stateDir, 'capstan.db')));
  let notifier: Notifier | undefined;
  const queue = () =>
    (notifier ??= new Notifier({
      db: database(),
      targets: parseNotifyTargets(config.notify, { env: process.env, readFile: (path) => fs.readFileSync(path, 'utf8') }),
      clock: systemClock,
      logger: logger.child({ stage: 'notify' }),
      secrets: () => secrets.values(),
    }));
  return new VolumeStorage({
    docker,
    node: config.node,
    store: new StorageStore(database),
    clock: systemClock,
    repositories: async () => (await hostPolicy(config)()).repositories ?? {},
    restic: async (repository) =>
      resticRunner({
        env: await resticEnvironment(repository, { env: process.env, register: (value) => secrets.register(value), cacheDir: join(config.stateDir, 'restic-cache') }),
        redact: (text) => secrets.redact(text),
        binary: process.env.CAPSTAN_RESTIC || undefined,
      }),
    redact: (text) => secrets.redact(text),
    events: {
      failed: ({ app, volume, reason, message }) => {
        incrementCounter(database(), 'volume_failures', { app, volume, reason });
        queue().notify(newEvent(systemClock, { kind: 'volume-failed', node: config.node, commit: null, app, reason, message }));
      },
      snapshotted: ({ app, volume }) => incrementCounter(database(), 'volume_snapshots', { app, volume }),
    },
  });
}

/**
 * Scheduled jobs (agent/jobs): runs created with the containers target's executor and its
 * checks, recorded in the state database, failures queued as `job-failed` notifications.
 */
export function createJobRunner(config: AgentConfig, db: Db, logger: Logger, secrets: SecretRegistry, clock: Clock = systemClock, docker: Docker = connectDocker()): JobRunner {
  const notifier = new Notifier({
    db,
    targets: parseNotifyTargets(config.notify, { env: process.env, readFile: (path) => fs.readFileSync(path, 'utf8') }),
    clock,
    logger: logger.child({ stage: 'notify' }),
    secrets: () => secrets.values(),
  });
  const mountCopies = createMountCopies({ fs, stateDir: config.stateDir });
  const isolation = hostIsolationCheck(docker, config);
  const hostPaths = createHostPathCheck(hostPolicy(config));
  const runLogger = logger.child({ stage: 'jobs' });
  return new JobRunner({
    docker,
    store: new JobRunStore(db),
    clock,
    node: config.node,
    logger: runLogger,
    secrets: () => secrets.values(),
    execute: (plan, known) =>
      execute(plan, {
        docker,
        // The run's own row in job_runs is its record; its two operations are logged.
        journal: { start: () => 0, finish: () => undefined },
        logger: runLogger,
        clock,
        registryAuth: async () => undefined,
        listContext: () => Promise.reject(new Error('a job run builds nothing')),
        secrets: known,
        mountCopies,
        isolation,
        hostPaths,
      }),
    notifyFailure: (run) => {
      incrementCounter(db, 'job_failures', { app: run.app, service: run.service });
      notifier.notify(newEvent(clock, { kind: 'job-failed', node: config.node, commit: run.commit, app: run.app, service: run.service, reason: run.state === 'interrupted' ? 'JOB_INTERRUPTED' : run.state === 'timed-out' ? 'JOB_TIMED_OUT' : 'JOB_FAILED', message: `run ${run.id} (${run.scheduledAt}): ${run.message ?? run.state}` }));
    },
  });
}
