// Builders of the agent's model for unit tests: a service, an app, a desired state, an observed
// container and host, each with the fewest fields a valid one has, and `overrides` that win.
// The one place unit tests import the model's and the observer's types from, so a move of those
// files changes one import here.
//
//   const state = desired(app('shop', [service('web', { replicas: 2 })]));
//   const host = observed([container('shop', 'web', 1, { configHash: HASH_A })]);
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { formatProblem } from '../../agent/errors.js';
import { loadDesiredState, validateDir } from '../../agent/load/index.js';
import type { App, DesiredState, Service } from '../../agent/model.js';
import type { ObservedContainer, ObservedState } from '../../agent/targets/containers/observe.js';

export type { App, DesiredState, Service, ObservedContainer, ObservedState };

export const COMMIT = 'c0ffee0000000000000000000000000000000000';
/** Two config hashes: what a container runs (A) and what the manifest wants (B). */
export const HASH_A = 'aaaaaaaa11111111';
export const HASH_B = 'bbbbbbbb22222222';

/** A service of app `shop`, one replica of local/busybox:1, at config hash B. */
export function service(name = 'web', overrides: Partial<Service> = {}): Service {
  return {
    app: 'shop',
    name,
    image: 'local/busybox:1',
    environment: {},
    ports: [],
    mounts: [],
    restart: 'unless-stopped',
    labels: {},
    replicas: 1,
    configHash: HASH_B,
    source: { file: 'shop.yaml', line: 3 },
    ...overrides,
  };
}

/** An app from `<name>.yaml`; its services are given its name. */
export function app(name: string, services: Service[], volumes: App['volumes'] = [], overrides: Partial<App> = {}): App {
  return {
    name,
    source: { file: `${name}.yaml`, line: 1 },
    services: services.map((entry) => ({ ...entry, app: name })),
    volumes,
    ...overrides,
  };
}

export function desired(...apps: App[]): DesiredState {
  return { commit: COMMIT, apps };
}

/** Replica `replica` of `<app>-<service>`, running config hash B of an older commit, on `<app>_default`. */
export function container(appName: string, serviceName: string, replica: number, overrides: Partial<ObservedContainer> = {}): ObservedContainer {
  return {
    id: `id-${appName}-${serviceName}-${replica}`,
    name: `${appName}-${serviceName}-${replica}`,
    app: appName,
    service: serviceName,
    replica,
    configHash: HASH_B,
    commit: 'old',
    image: 'local/busybox:1',
    state: 'running',
    exitCode: null,
    health: null,
    networks: [`${appName}_default`],
    networkMode: `${appName}_default`,
    volumes: [],
    ...overrides,
  };
}

/** Node `n1` holding `containers`, the default network of each of their apps, and busybox. */
export function observed(containers: ObservedContainer[], overrides: Partial<ObservedState> = {}): ObservedState {
  const apps = [...new Set(containers.map((entry) => entry.app))];
  return {
    node: 'n1',
    containers,
    networks: apps.map((name) => ({ id: `net-${name}`, name: `${name}_default`, app: name })),
    volumes: [],
    images: ['local/busybox:1'],
    runtimes: ['io.containerd.runc.v2', 'runc'],
    foreign: { containers: [], networks: [], volumes: [] },
    ...overrides,
  };
}

/** Writes `files` (path → content) into a fresh folder, runs `body` on it, removes the folder. */
export async function withCheckout(files: Record<string, string>, body: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'capstan-checkout-'));
  try {
    await writeFiles(root, files);
    await body(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export async function writeFiles(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

type LoadOptions = Omit<Parameters<typeof loadDesiredState>[0], 'root'>;

/** Loads `files` as a checkout of `options.commit`: the desired state, or the load's error. */
export async function loadFiles(files: Record<string, string>, options: LoadOptions): Promise<DesiredState> {
  let state: DesiredState | undefined;
  await withCheckout(files, async (root) => {
    state = await loadDesiredState({ ...options, root });
  });
  return state!;
}

/** Validates `files` and returns each problem as `formatProblem` prints it; a load with problems returns no state. */
export async function loadProblems(files: Record<string, string>, options: LoadOptions): Promise<string[]> {
  let found: string[] = [];
  await withCheckout(files, async (root) => {
    const result = await validateDir({ ...options, root });
    assert.equal(result.state, undefined, 'a load with problems returns no state');
    found = result.problems.map(formatProblem);
  });
  return found;
}
