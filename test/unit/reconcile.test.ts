// The Reconciler's decisions (apply, in sync, quarantine, rollback, pause, blocked heads, error
// classes) against a fake Target and a fake git source: real manifests loaded from real files,
// a real SQLite store. The end-to-end suites prove the same on the real engine.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { systemClock } from '../../agent/clock.js';
import { CapstanError } from '../../agent/errors.js';
import type { DesiredState } from '../../agent/model.js';
import { Reconciler } from '../../agent/reconcile.js';
import { DEFAULT_POLICY } from '../../agent/policy/schema.js';
import type { Checkout, GitSource } from '../../agent/source/index.js';
import { openDb } from '../../agent/state/db.js';
import { StateStore } from '../../agent/state/store.js';
import type { Convergence, Target, TargetPlan } from '../../agent/targets/target.js';

const root = mkdtempSync(join(tmpdir(), 'capstan-reconcile-'));
after(() => rmSync(root, { recursive: true, force: true }));
const node = 'n1';
const logger = pino({ level: 'silent' });

/** A repository whose commits are folders of manifests; `head` is what the next fetch returns. */
class FakeSource implements GitSource {
  head = '';
  fetchError: unknown;
  constructor(private readonly dir: string) {}
  /** `others`: more manifest files of the commit, by file name. */
  commit(id: string, manifest: string, others: Record<string, string> = {}): void {
    mkdirSync(join(this.dir, id), { recursive: true });
    writeFileSync(join(this.dir, id, 'shop.yaml'), manifest);
    for (const [file, text] of Object.entries(others)) writeFileSync(join(this.dir, id, file), text);
    this.head = id;
    this.history.push(id);
  }
  async fetch(): Promise<string> {
    if (this.fetchError) throw this.fetchError;
    return this.head;
  }
  async checkout(commit: string): Promise<Checkout> {
    return { commit, dir: join(this.dir, commit), author: 'A <a@example.test>', message: `commit ${commit}`, committedAt: '2026-01-01T00:00:00Z' };
  }
  async prune(): Promise<void> {}
  async gitdir(): Promise<string> {
    return this.dir;
  }
  /** Commits in the order `commit` made them: the branch's history, linear. */
  readonly history: string[] = [];
  async reach(commit: string, head: string): Promise<number> {
    const at = this.history.indexOf(commit);
    if (at < 0) throw new CapstanError('PIN_NOT_IN_BRANCH', 'terminal', `pinned commit ${commit} is not in the branch`);
    return this.history.indexOf(head) - at;
  }
}

type Script = (desired: DesiredState) => Partial<Convergence>;

/** Records what it is asked to converge; answers `applied` unless a script for the commit says otherwise. */
class FakeTarget implements Target {
  converged: string[] = [];
  scripts = new Map<string, Script[]>();
  /** The next convergence of `commit` answers `script` (each script is used once). */
  on(commit: string, script: Script): void {
    this.scripts.set(commit, [...(this.scripts.get(commit) ?? []), script]);
  }
  async converge(desired: DesiredState): Promise<Convergence> {
    this.converged.push(desired.commit);
    const script = this.scripts.get(desired.commit)?.shift();
    return { result: 'applied', commit: desired.commit, changes: ['create container shop-web-1'], rolloutFailures: [], inUseCommits: [], ...script?.(desired) };
  }
  async plan(desired: DesiredState): Promise<TargetPlan> {
    return { commit: desired.commit, node, operations: [], problems: [] };
  }
  print(): string {
    return '';
  }
  async afterApplied(): Promise<void> {}
}

const manifest = (version: string, update = '') => `app: shop\nservices:\n  web:\n    image: local/busybox:1\n    command: ["sleep", "${version}"]\n${update}`;
const rolloutFailure = (): Partial<Convergence> => ({
  result: 'failed',
  reason: 'APPLY_FAILED',
  errorClass: 'terminal',
  message: 'wait until shop-web-1--next is ready: replica failed',
  rolloutFailures: [{ app: 'shop', service: 'web', message: 'replica shop-web-1--next failed: exited with exit code 3' }],
});

describe('Reconciler against a fake target', () => {
  let source: FakeSource;
  let target: FakeTarget;
  let store: StateStore;
  let reconciler: Reconciler;
  let count = 0;

  beforeEach(() => {
    const dir = join(root, `case-${++count}`);
    mkdirSync(dir, { recursive: true });
    source = new FakeSource(join(dir, 'repo'));
    target = new FakeTarget();
    store = new StateStore(openDb(join(dir, 'capstan.db')));
    reconciler = new Reconciler({ source, target, store, logger, clock: systemClock, node, path: '.', hashKey: new Uint8Array(32).fill(7) });
  });

  it('applies a new commit and records it; the same commit again is in sync', async () => {
    source.commit('c1', manifest('1'));
    const first = await reconciler.cycle('test');
    assert.equal(first.result, 'applied');
    assert.deepEqual(first.rollouts, ['shop/web']);
    assert.equal(store.lastAppliedCommit, 'c1');
    assert.deepEqual(store.deployments(node).map((row) => `${row.app}/${row.service}@${row.commit}`), ['shop/web@c1']);

    target.on('c1', () => ({ result: 'in-sync', changes: [] }));
    const second = await reconciler.cycle('test');
    assert.equal(second.result, 'in-sync');
    assert.deepEqual(second.rollouts, []);
    assert.equal(second.reason, undefined);
  });

  it('quarantines a commit whose rollout fails and rolls back to the last applied one', async () => {
    source.commit('c1', manifest('1'));
    await reconciler.cycle('test');
    source.commit('c2', manifest('2'));
    target.on('c2', rolloutFailure);
    const outcome = await reconciler.cycle('test');
    assert.equal(outcome.result, 'failed');
    assert.equal(outcome.reason, 'ROLLED_BACK');
    assert.equal(outcome.errorClass, 'terminal');
    assert.deepEqual(outcome.rollbacks, ['shop/web']);
    assert.deepEqual(target.converged, ['c1', 'c2', 'c1']);
    assert.equal(store.quarantineOf(node, 'c2')?.reason, 'ROLLOUT_FAILED');
    assert.equal(store.lastAppliedCommit, 'c1');
    assert.equal(store.cycles(1)[0].reason, 'ROLLED_BACK');
  });

  it('keeps a quarantined head blocked and converges the last applied commit instead', async () => {
    source.commit('c1', manifest('1'));
    await reconciler.cycle('test');
    source.commit('c2', manifest('2'));
    target.on('c2', rolloutFailure);
    await reconciler.cycle('test');
    target.converged = [];
    const outcome = await reconciler.cycle('test');
    assert.equal(outcome.result, 'blocked');
    assert.equal(outcome.reason, 'COMMIT_QUARANTINED');
    assert.equal(outcome.errorClass, 'terminal');
    assert.deepEqual(target.converged, ['c1'], 'the quarantined commit is never converged again');
  });

  it('pauses instead of rolling back when the failed service says failure_action: pause', async () => {
    source.commit('c1', manifest('1'));
    await reconciler.cycle('test');
    source.commit('c2', manifest('2', '    update:\n      failure_action: pause\n'));
    target.on('c2', rolloutFailure);
    const outcome = await reconciler.cycle('test');
    assert.equal(outcome.reason, 'ROLLOUT_FAILED');
    assert.deepEqual(target.converged, ['c1', 'c2']);
    assert.ok(store.quarantineOf(node, 'c2'));
  });

  it('says ROLLBACK_FAILED, transient, when converging the last applied commit fails too', async () => {
    source.commit('c1', manifest('1'));
    await reconciler.cycle('test');
    source.commit('c2', manifest('2'));
    target.on('c2', rolloutFailure);
    target.on('c1', () => ({ result: 'failed', reason: 'OBSERVE_FAILED', errorClass: 'transient', message: 'Docker is gone' }));
    const outcome = await reconciler.cycle('test');
    assert.equal(outcome.reason, 'ROLLBACK_FAILED');
    assert.equal(outcome.errorClass, 'transient');
    assert.ok(store.quarantineOf(node, 'c2'));
  });

  it('blocks a head that does not load, keeping the last applied commit converged', async () => {
    source.commit('c1', manifest('1'));
    await reconciler.cycle('test');
    source.commit('c3', 'app: shop\nservices:\n  web:\n    imag: typo\n');
    target.converged = [];
    const outcome = await reconciler.cycle('test');
    assert.equal(outcome.result, 'blocked');
    assert.equal(outcome.reason, 'LOAD_FAILED');
    assert.equal(outcome.code, 'MANIFEST_INVALID');
    assert.equal(outcome.errorClass, 'terminal');
    assert.deepEqual(target.converged, ['c1']);
    assert.equal(store.cycles(1)[0].reason, 'MANIFEST_INVALID', 'history keeps the error\'s own code');
    assert.equal(store.quarantineOf(node, 'c3'), null, 'a commit that does not load is not quarantined');
  });

  it('classes a failed fetch by its error: transient unless the error says otherwise', async () => {
    source.commit('c1', manifest('1'));
    source.fetchError = new Error('connect ECONNREFUSED');
    const unreachable = await reconciler.cycle('test');
    assert.deepEqual([unreachable.result, unreachable.reason, unreachable.errorClass], ['failed', 'FETCH_FAILED', 'transient']);
    source.fetchError = new CapstanError('GIT_BRANCH_NOT_FOUND', 'terminal', 'branch main not found');
    const missing = await reconciler.cycle('test');
    assert.deepEqual([missing.reason, missing.code, missing.errorClass], ['FETCH_FAILED', 'GIT_BRANCH_NOT_FOUND', 'terminal']);
    assert.deepEqual(target.converged, []);
  });

  it('does not quarantine a commit when the host, not the config, failed', async () => {
    source.commit('c1', manifest('1'));
    target.on('c1', () => ({ result: 'failed', reason: 'APPLY_FAILED', errorClass: 'transient', message: 'pull image: registry unreachable' }));
    const outcome = await reconciler.cycle('test');
    assert.deepEqual([outcome.result, outcome.reason, outcome.errorClass], ['failed', 'APPLY_FAILED', 'transient']);
    assert.equal(store.quarantineOf(node, 'c1'), null);
    assert.equal(store.lastAppliedCommit, null);
    const retried = await reconciler.cycle('test');
    assert.equal(retried.result, 'applied', 'the same commit is tried again');
  });
});

describe('what a failed cycle\'s error class decides (cycle-retry.ts)', () => {
  it('retries transient and not-ready failures with backoff and jitter, never terminal ones', async () => {
    const { cycleRetryDelayMs } = await import('../../agent/cycle-retry.js');
    const policy = { baseDelayMs: 1000, maxDelayMs: 8000 };
    const table: [string, Parameters<typeof cycleRetryDelayMs>[0], number, number, number | undefined][] = [
      ['terminal waits for a new commit', { result: 'failed', errorClass: 'terminal' }, 1, 0.5, undefined],
      ['a blocked head is not retried', { result: 'blocked', errorClass: 'terminal' }, 1, 0.5, undefined],
      ['success', { result: 'applied' }, 0, 0.5, undefined],
      ['first transient failure, least jitter', { result: 'failed', errorClass: 'transient' }, 1, 0, 500],
      ['first transient failure, most jitter', { result: 'failed', errorClass: 'transient' }, 1, 1, 1000],
      ['third in a row', { result: 'failed', errorClass: 'transient' }, 3, 0.5, 3000],
      ['capped', { result: 'failed', errorClass: 'transient' }, 10, 1, 8000],
      ['not ready backs off too', { result: 'failed', errorClass: 'not-ready' }, 2, 0, 1000],
    ];
    for (const [name, outcome, inARow, random, expected] of table) assert.equal(cycleRetryDelayMs(outcome, inARow, random, policy), expected, name);
  });
});

describe('Reconciler with operator control (capstan pin, suspend)', () => {
  let source: FakeSource;
  let target: FakeTarget;
  let store: StateStore;
  let reconciler: Reconciler;
  let pinned: string | null;
  let suspended: string[];
  let checked: { head: string; ahead: number | null; problem: string | null }[];
  const converging: DesiredState[] = [];
  let count = 0;

  beforeEach(() => {
    const dir = join(root, `control-${++count}`);
    mkdirSync(dir, { recursive: true });
    source = new FakeSource(join(dir, 'repo'));
    target = new FakeTarget();
    const converge = target.converge.bind(target);
    target.converge = async (desired) => {
      converging.push(desired);
      return converge(desired);
    };
    store = new StateStore(openDb(join(dir, 'capstan.db')));
    pinned = null;
    suspended = [];
    checked = [];
    const control = { suspendedApps: () => suspended, pinnedCommit: () => pinned, pinChecked: (_commit: string, view: (typeof checked)[number]) => void checked.push(view) };
    reconciler = new Reconciler({ source, target, store, logger, clock: systemClock, node, path: '.', hashKey: new Uint8Array(32).fill(7), control });
  });

  it('deploys the pinned commit instead of the head and says how far the head is ahead', async () => {
    source.commit('c1', manifest('1'));
    await reconciler.cycle('test');
    source.commit('c2', manifest('2'));
    source.commit('c3', manifest('3'));
    pinned = 'c1';
    const outcome = await reconciler.cycle('sync', { force: true });
    assert.equal(outcome.commit, 'c1');
    assert.equal(store.lastAppliedCommit, 'c1');
    assert.deepEqual(checked.at(-1), { head: 'c3', ahead: 2, problem: null });
    assert.ok(outcome.cycleId !== undefined && outcome.cycleId > 0);
  });

  it('a pin the branch does not hold is blocked, and the last applied commit keeps running', async () => {
    source.commit('c1', manifest('1'));
    await reconciler.cycle('test');
    pinned = 'elsewhere';
    const outcome = await reconciler.cycle('test');
    assert.equal(outcome.result, 'blocked');
    assert.equal(outcome.code, 'PIN_NOT_IN_BRANCH');
    assert.equal(store.lastAppliedCommit, 'c1');
    assert.match(checked.at(-1)?.problem ?? '', /not in the branch/);
  });

  it('a pinned commit whose rollout fails is quarantined and rolled back like any other', async () => {
    source.commit('c1', manifest('1'));
    source.commit('c2', manifest('2'));
    await reconciler.cycle('test');
    pinned = 'c1';
    target.on('c1', rolloutFailure);
    const outcome = await reconciler.cycle('test');
    assert.equal(outcome.reason, 'ROLLED_BACK');
    assert.equal(store.quarantineOf(node, 'c1')?.reason, 'ROLLOUT_FAILED');
    assert.equal(store.lastAppliedCommit, 'c2');
  });

  it('keeps a suspended app\'s deployment record through a cycle in which another app waits for its window', async () => {
    // A deny window of shop always in force (every minute, for a minute: the chain never ends).
    const deployWindows = { windows: [{ kind: 'deny' as const, schedule: '* * * * *', durationMs: 60_000, apps: ['shop'] }], driftRepair: true };
    const control = { suspendedApps: () => suspended, pinnedCommit: () => pinned, pinChecked: () => undefined };
    const gated = new Reconciler({ source, target, store, logger, clock: systemClock, node, path: '.', hashKey: new Uint8Array(32).fill(7), control, policy: async () => ({ ...DEFAULT_POLICY, deployWindows }) });
    const blog = (version: string) => manifest(version).replace('app: shop', 'app: blog');
    source.commit('c1', manifest('1'), { 'blog.yaml': blog('1') });
    assert.equal((await reconciler.cycle('test')).result, 'applied', 'deployed before the window');
    suspended = ['blog'];
    source.commit('c2', manifest('2'), { 'blog.yaml': blog('2') });
    const waiting = await gated.cycle('test');
    assert.equal(waiting.result, 'deferred', waiting.message);
    assert.deepEqual(store.deployments(node).map((row) => [row.app, row.commit]).sort(), [['blog', 'c1'], ['shop', 'c1']], 'blog runs what it ran');
  });

  it('converges without a suspended app, naming it, and keeps its deployment record', async () => {
    source.commit('c1', manifest('1'));
    await reconciler.cycle('test');
    const before = store.deployments(node);
    suspended = ['shop'];
    source.commit('c2', manifest('2'));
    converging.length = 0;
    await reconciler.cycle('test');
    assert.deepEqual(converging.map((desired) => [desired.apps.length, desired.suspendedApps]), [[0, ['shop']]]);
    assert.deepEqual(store.deployments(node).map((row) => [row.app, row.configHash, row.commit]), before.map((row) => [row.app, row.configHash, row.commit]));
  });
});
