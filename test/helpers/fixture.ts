// The one set-up of the integration tests that drive the built agent: a git server with a
// manifests repository, a state dir, a node name (everything the agent creates is labelled
// `capstan.node=<node>`, so cleanup removes exactly this fixture's objects), the CLI run with
// that environment, and cleanup by label that runs even when a test fails.
//
//   it('deploys', async (t) => {
//     const agent = await agentFor(t, { app: 'shop' });   // one test's own host, closed after it
//     await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app) });
//     assert.equal((await agent.capstan('once')).code, 0);
//   });
//
// `sharedAgent()` gives a file (or describe) one fixture, for set-up its tests only read.
// Every test passes alone (`--test-name-pattern`) and with any other test skipped: see
// docs/design.md, "Adding an integration test".
import type { ChildProcess } from 'node:child_process';
import { after, before } from 'node:test';
import { runCapstan, spawnCapstan, type CliOptions, type RunOptions, type RunResult } from './cli.js';
import { cleanupNode, listManaged, removeContainer, runUnmanagedContainer, testNodeName, uniqueName, type ManagedContainer, type UnmanagedContainerOptions } from './docker.js';
import { startGitServer, type GitServer, type RemoteRepo } from './git-server.js';
import { tempDir, type TempDir } from './paths.js';

export interface AgentOptions {
  /** Prefix of `agent.app`, a unique app name; default `app`. */
  app?: string;
  /** The git server asks for this token and the agent is given it (CAPSTAN_GIT_TOKEN). */
  token?: string;
  /** More environment for every command; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  /** Each command's bound; default 120 s. */
  timeoutMs?: number;
  /** Default `manifests`. */
  repoName?: string;
  /** Without a repository: no git server, no CAPSTAN_REPO (for commands that need none). */
  noRepo?: boolean;
  /** Another agent's repository and git server (a fleet: one repository, an agent per node). */
  sameRepoAs?: Agent;
  /** Runs first when the fixture closes, e.g. removing Swarm services that hold its networks. */
  beforeCleanup?: () => Promise<unknown>;
}

export interface Agent {
  /** `capstan-test-<run>-<random>`: the agent's CAPSTAN_NODE and its objects' label. */
  readonly node: string;
  /** A unique app name for the test's manifests. */
  readonly app: string;
  readonly server: GitServer;
  readonly repo: RemoteRepo;
  readonly state: TempDir;
  /** The agent's environment (repository, token, state dir, node), plus `extra`. */
  env(extra?: Record<string, string | undefined>): Record<string, string | undefined>;
  /** `capstan ...args` with the agent's environment. */
  capstan(...args: string[]): Promise<RunResult>;
  /** As capstan(), with options (stdin, more env, a timeout) merged over the fixture's. */
  run(args: string[], options?: RunOptions): Promise<RunResult>;
  /** A long-running `capstan run …`; stop it with stopProcess. */
  spawn(args: string[], options?: CliOptions): ChildProcess;
  /** Writes the files (`null` deletes), commits, pushes; returns the commit id. */
  push(files: Record<string, string | null>, message?: string): Promise<string>;
  /** The containers this node's agent manages, sorted by name. */
  managed(): Promise<ManagedContainer[]>;
  /** Container name → id, of the managed containers. */
  ids(): Promise<Record<string, string>>;
  /** The managed container `<app>-<service>-<replica>`; throws when it is missing. */
  container(service: string, replica?: number, app?: string): Promise<ManagedContainer>;
  /** A scratch folder removed with the fixture. */
  tempDir(prefix: string): Promise<TempDir>;
  /**
   * Runs `step` when the fixture closes, after the label cleanup (last deferred first). A file's
   * own clean-up goes here rather than in another after hook: node:test skips the hooks after
   * one that throws, and every step here is tried whatever the others do.
   */
  defer(step: () => unknown): void;
  /** A container run by hand (not managed), removed with the fixture. */
  unmanaged(prefix: string, options?: UnmanagedContainerOptions): Promise<{ id: string; name: string }>;
  /** Removes this node's Docker objects by label, then the server and folders. Safe to call twice. */
  close(): Promise<void>;
}

/** Starts a fixture the caller closes; prefer agentFor or sharedAgent, which close it for you. */
export async function startAgent(
  options: AgentOptions = {},
  names = { node: testNodeName(), app: uniqueName(options.app ?? 'app') },
  deferred: Array<() => unknown> = [],
): Promise<Agent> {
  const { node, app } = names;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const folders: TempDir[] = [];
  const handMade: string[] = [];
  let server: GitServer | undefined;
  let repo: RemoteRepo | undefined;
  let closed = false;

  const close = async () => {
    if (closed) return;
    closed = true;
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>) => {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    };
    if (options.beforeCleanup) await attempt(options.beforeCleanup);
    await attempt(() => cleanupNode(node));
    for (const id of handMade) await attempt(() => removeContainer(id));
    for (const step of [...deferred].reverse()) await attempt(async () => step());
    if (server) await attempt(() => server!.close());
    for (const folder of folders) await attempt(() => folder.cleanup());
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, `closing the fixture of ${node}: ${failures.length} steps failed`);
  };

  const scratch = async (prefix: string) => {
    const folder = await tempDir(prefix);
    folders.push(folder);
    return folder;
  };

  let state: TempDir;
  try {
    state = await scratch(`capstan-${options.app ?? 'test'}-state`);
    if (options.sameRepoAs) {
      repo = options.sameRepoAs.repo;
    } else if (!options.noRepo) {
      server = await startGitServer({ token: options.token });
      repo = await server.createRepo(options.repoName ?? 'manifests');
    }
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }

  const env = (extra: Record<string, string | undefined> = {}) => ({
    ...(repo ? { CAPSTAN_REPO: repo.url } : {}),
    ...(options.token !== undefined ? { CAPSTAN_GIT_TOKEN: options.token } : {}),
    CAPSTAN_STATE_DIR: state.path,
    CAPSTAN_NODE: node,
    ...options.env,
    ...extra,
  });
  const run = (args: string[], { env: extra, ...rest }: RunOptions = {}) => runCapstan(args, { timeoutMs, ...rest, env: env(extra) });
  const managed = () => listManaged(node);
  const without = (what: string) => () => {
    throw new Error(`this fixture was started with noRepo: it has no ${what}`);
  };

  return {
    node,
    app,
    get server() {
      return server ?? options.sameRepoAs?.server ?? without('git server')();
    },
    get repo() {
      return repo ?? without('repository')();
    },
    state,
    env,
    run,
    capstan: (...args: string[]) => run(args),
    spawn: (args, { env: extra, ...rest } = {}) => spawnCapstan(args, { ...rest, env: env(extra) }),
    async push(files, message = 'change') {
      const target = repo ?? without('repository')();
      await target.write(files);
      const commit = await target.commit(message);
      await target.push();
      return commit;
    },
    managed,
    ids: async () => Object.fromEntries((await managed()).map((container) => [container.name, container.id])),
    async container(service, replica = 1, appName = app) {
      const name = `${appName}-${service}-${replica}`;
      const found = (await managed()).find((candidate) => candidate.name === name);
      if (!found) throw new Error(`no managed container ${name} on ${node}`);
      return found;
    },
    tempDir: scratch,
    defer: (step) => void deferred.push(step),
    async unmanaged(prefix, containerOptions) {
      const started = await runUnmanagedContainer(uniqueName(prefix), containerOptions);
      handMade.push(started.id);
      return started;
    },
    close,
  };
}

interface TestContextLike {
  after(fn: () => unknown): void;
}

/** One test's own fixture, closed (Docker objects removed by label) after the test, pass or fail. */
export async function agentFor(t: TestContextLike, options: AgentOptions = {}): Promise<Agent> {
  const agent = await startAgent(options);
  t.after(() => agent.close());
  return agent;
}

/**
 * One fixture for the describe (or file) it is called in: started in its `before`, closed in its
 * `after`. For set-up that its tests share and only read; `node` and `app` are known at once,
 * the rest once `before` has run.
 */
export function sharedAgent(options: AgentOptions = {}): Agent {
  const names = { node: testNodeName(), app: uniqueName(options.app ?? 'app') };
  const deferred: Array<() => unknown> = [];
  let started: Agent | undefined;
  const current = (): Agent => {
    if (!started) throw new Error('sharedAgent: used before its before() hook ran');
    return started;
  };
  before(async () => {
    started = await startAgent(options, names, deferred);
  });
  after(() => started?.close());
  return {
    node: names.node,
    app: names.app,
    get server() {
      return current().server;
    },
    get repo() {
      return current().repo;
    },
    get state() {
      return current().state;
    },
    env: (extra) => current().env(extra),
    capstan: (...args) => current().capstan(...args),
    run: (args, options) => current().run(args, options),
    spawn: (args, options) => current().spawn(args, options),
    push: (files, message) => current().push(files, message),
    managed: () => current().managed(),
    ids: () => current().ids(),
    container: (service, replica, app) => current().container(service, replica, app),
    tempDir: (prefix) => current().tempDir(prefix),
    defer: (step) => void deferred.push(step),
    unmanaged: (prefix, options) => current().unmanaged(prefix, options),
    close: () => current().close(),
  };
}

/** Keeps a container alive until stopped, exiting 0 on SIGTERM. */
export const SLEEPER = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;
