import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDesiredState } from '../../agent/load/index.js';
import type { DesiredState, Service } from '../../agent/model.js';
import { DEFAULT_POLICY } from '../../agent/policy/index.js';
import { containerCreateOptions } from '../../agent/targets/containers/execute-spec.js';
import { plan } from '../../agent/targets/containers/plan.js';
import { printPlan } from '../../agent/targets/containers/print.js';
import { planJson } from '../../agent/targets/print.js';
import { encryptEnv, newKeyringKey, type Keyring } from '../../secrets/index.js';
import { app, container, desired, HASH_A, loadFiles, loadProblems, observed, service, withCheckout } from '../helpers/model.js';

// Issue 23: Compose's lifecycle hooks (`post_start`, `pre_stop`) and `cgroup_parent`, in the
// loader (native and Compose spellings, problems at file, line and key, the config hash), and in
// the plan (which start and stop carries which hooks; the printed plan names them, never their
// environment).

const COMMIT = 'd'.repeat(40);
const hashKey = new TextEncoder().encode('lifecycle-test-key');
const key = newKeyringKey(Date.now());
const keyring: Keyring = { source: 'test.keys', keys: [key], primary: key };
/** A value of an encrypted env file: never in a plan or a problem. */
const SENTINEL = 'S3NT1NEL-hook-5e1b';

const load = (files: Record<string, string>) => loadFiles(files, { commit: COMMIT, hashKey, keyring });
const problems = (files: Record<string, string>) => loadProblems(files, { commit: COMMIT, hashKey, keyring });

const web = (state: DesiredState): Service => state.apps[0].services.find((candidate) => candidate.name === 'web')!;

const NATIVE = (hooks: string) => `app: shop
env_files: [shop.env]
services:
  web:
    image: local/busybox:1
${hooks}`;

const ENV = { 'shop.env': encryptEnv({ values: { TOKEN: SENTINEL }, repoPath: 'shop.env', keyring }) };

describe('lifecycle hooks: the loader', () => {
  it('normalizes the native fields: commands split, environment as strings, only what is set', async () => {
    const state = await load({
      'shop.yaml': NATIVE(`    post_start:
      - command: chown -R "1000:1000" /data
        user: root
        privileged: false
        working_dir: /data
        environment: {TOKEN: "\${TOKEN}", COUNT: 3}
      - command: [sh, -c, 'echo started > /tmp/started']
    pre_stop:
      - command: nginx -s quit
        environment: [MODE=drain]
`),
      ...ENV,
    });
    assert.deepEqual(web(state).postStart, [
      { command: ['chown', '-R', '1000:1000', '/data'], user: 'root', privileged: false, workingDir: '/data', environment: { TOKEN: SENTINEL, COUNT: '3' } },
      { command: ['sh', '-c', 'echo started > /tmp/started'] },
    ]);
    assert.deepEqual(web(state).preStop, [{ command: ['nginx', '-s', 'quit'], environment: { MODE: 'drain' } }]);
    const without = await load({ 'shop.yaml': NATIVE(''), ...ENV });
    assert.equal('postStart' in web(without), false);
    assert.equal('preStop' in web(without), false);
    assert.equal('cgroupParent' in web(without), false);
  });

  it('a Compose file deploys its hooks and cgroup_parent unchanged (with the parent allowed)', async () => {
    const compose = `services:
  web:
    image: local/busybox:1
    cgroup_parent: /capstan
    post_start:
      - command: ./register.sh
        user: root
    pre_stop:
      - command: ["./flush.sh", "--now"]
        environment:
          - MODE=drain
`;
    let state: DesiredState | undefined;
    await withCheckout({ 'shop/compose.yaml': compose }, async (root) => {
      state = await loadDesiredState({ root, commit: COMMIT, hashKey, keyring, policy: { ...DEFAULT_POLICY, allowedCgroupParents: ['/capstan'] } });
    });
    assert.deepEqual(web(state!).postStart, [{ command: ['./register.sh'], user: 'root' }]);
    assert.deepEqual(web(state!).preStop, [{ command: ['./flush.sh', '--now'], environment: { MODE: 'drain' } }]);
    assert.equal(web(state!).cgroupParent, '/capstan');
    const options = containerCreateOptions(state!.apps[0], web(state!), 1, { name: 'shop-web-1', node: 'n1', commit: COMMIT, endpoints: [{ network: 'shop_default', aliases: [] }] });
    assert.equal(options.HostConfig?.CgroupParent, '/capstan');
  });

  it('problems name file, line and key, never a value', async () => {
    const schema = await problems({
      'shop.yaml': NATIVE(`    post_start:
      - command: echo
      - user: root
      - command: []
    pre_stop:
      - command: x
        working_dir: relative
        timeout: 5s
    cgroup_parent: "../escape me"
`),
      ...ENV,
    });
    assert.deepEqual(schema, [
      "shop.yaml:8:9: services.web.post_start[1]: missing required key 'command' [SCHEMA]",
      'shop.yaml:9:18: services.web.post_start[2].command: must NOT have fewer than 1 items [SCHEMA]',
      "shop.yaml:12:22: services.web.pre_stop[0].working_dir: must be an absolute path inside the container (starting with '/') [SCHEMA]",
      "shop.yaml:13:9: services.web.pre_stop[0].timeout: unknown key 'timeout' (known keys: command, user, privileged, working_dir, environment) [UNKNOWN_KEY]",
      'shop.yaml:14:20: services.web.cgroup_parent: must match ^[A-Za-z0-9_./@:-]+$ [SCHEMA]',
    ]);
    const split = await problems({
      'shop.yaml': NATIVE(`    post_start:
      - command: 'echo "unterminated \${TOKEN}'
    pre_stop:
      - command: '  '
        environment: [A=1, A=2]
`),
      ...ENV,
    });
    for (const problem of split) assert.ok(!problem.includes(SENTINEL), problem);
    assert.equal(split.length, 3, split.join('\n'));
    assert.match(split[0], /^shop\.yaml:7:18: services\.web\.post_start\[0\]\.command: .*\[COMMAND_INVALID\]$/);
    assert.match(split[1], /^shop\.yaml:9:18: services\.web\.pre_stop\[0\]\.command: the command is empty; give the program to run \[COMMAND_INVALID\]$/);
    assert.match(split[2], /^shop\.yaml:10:28: services\.web\.pre_stop\[0\]\.environment\[1\]: this variable is already set by item 0; keep one \[DUPLICATE_KEY\]$/);
  });

  it('the config hash covers the hooks: changing one rolls the service out', async () => {
    const hashOf = async (hooks: string) => web(await load({ 'shop.yaml': NATIVE(hooks), ...ENV })).configHash;
    const none = await hashOf('');
    const one = await hashOf('    post_start: [{command: "touch /a"}]\n');
    assert.notEqual(one, none);
    assert.notEqual(await hashOf('    post_start: [{command: "touch /b"}]\n'), one);
    assert.notEqual(await hashOf('    post_start: [{command: "touch /a", user: root}]\n'), one);
    assert.notEqual(await hashOf('    pre_stop: [{command: "touch /a"}]\n'), none);
    assert.notEqual(await hashOf('    pre_stop: [{command: "touch /a"}]\n'), one, 'the same command as post_start or pre_stop is another service');
    assert.equal(await hashOf('    post_start: [{command: [touch, /a]}]\n'), one, 'the same command as a list or a string');
  });
});

describe('lifecycle hooks: the plan', () => {
  const hooked = (overrides: Partial<Service> = {}) =>
    service('web', {
      postStart: [{ command: ['touch', '/ready'], environment: { TOKEN: SENTINEL } }],
      preStop: [{ command: ['sh', '-c', 'echo bye'], environment: { TOKEN: SENTINEL } }, { command: ['true'] }],
      ...overrides,
    });

  it('a new replica runs its post_start hooks after its start, within the progress deadline', () => {
    const result = plan(desired(app('shop', [hooked()])), observed([], { networks: [] }));
    const start = result.operations.find((operation) => operation.kind === 'start-container')!;
    assert.deepEqual(start.kind === 'start-container' && start.spec, { postStart: hooked().postStart, timeoutMs: 120_000 });
    const ready = result.operations.find((operation) => operation.kind === 'wait-ready')!;
    assert.deepEqual(ready.after, [start.id], 'the replica is watched for readiness only after its hooks');
  });

  it('a replacement stops the old replica after its pre_stop hooks, bounded by the stop grace period; a restart runs both', () => {
    const state = desired(app('shop', [hooked({ stopGracePeriodMs: 30_000 })]));
    const result = plan(state, observed([container('shop', 'web', 1, { configHash: HASH_A })]));
    const stop = result.operations.find((operation) => operation.kind === 'stop-container')!;
    assert.deepEqual(stop.kind === 'stop-container' && stop.spec, { preStop: hooked().preStop, timeoutMs: 30_000 });
    const printed = printPlan(result);
    assert.match(printed, /run the pre_stop hooks \(2\) of shop-web-1, then stop container shop-web-1/);
    assert.match(printed, /start container shop-web-1--next, then run its post_start hooks \(1\)/);
    assert.ok(!printed.includes(SENTINEL) && !printed.includes('touch') && !printed.includes('echo bye'), 'the plan names the hooks, not their commands or environment');
    assert.ok(!planJson(result).includes(SENTINEL), 'plan --json leaves the hooks (under spec) out');

    const restart = plan(state, observed([container('shop', 'web', 1, { state: 'exited', exitCode: 1 })]));
    const restarted = restart.operations.find((operation) => operation.kind === 'start-container');
    assert.ok(restarted?.kind === 'start-container' && restarted.spec?.postStart.length === 1, 'a drifted (exited) replica started again runs its post_start hooks');
  });

  it('a scale-down runs the pre_stop hooks; an app removed from the repository has none to run', () => {
    const scaled = plan(desired(app('shop', [hooked({ replicas: 1 })])), observed([container('shop', 'web', 1), container('shop', 'web', 2)]));
    const stop = scaled.operations.find((operation) => operation.kind === 'stop-container');
    assert.ok(stop?.kind === 'stop-container' && stop.container.replica === 2 && stop.spec?.preStop.length === 2, printPlan(scaled));
    const removed = plan(desired(app('other', [service('api')])), observed([container('shop', 'web', 1), container('other', 'api', 1)]));
    const orphan = removed.operations.find((operation) => operation.kind === 'stop-container');
    assert.ok(orphan?.kind === 'stop-container' && orphan.spec === undefined, printPlan(removed));
  });

  it('a replica an interrupted rollout started runs its post_start hooks again before it is watched (at least once); one never started runs them once, after its start', () => {
    const appliedOld = { appliedHashes: new Map([['shop/web', HASH_A]]) };
    const state = desired(app('shop', [hooked()]));
    const running = plan(state, observed([container('shop', 'web', 1, { id: 'old', configHash: HASH_A }), container('shop', 'web', 1, { id: 'new', name: 'shop-web-1--next' })]), appliedOld);
    const wait = running.operations[0];
    assert.ok(wait.kind === 'wait-ready' && wait.resumed === true, printPlan(running));
    assert.deepEqual(wait.spec, { postStart: hooked().postStart, timeoutMs: 120_000 });
    assert.match(printPlan(running), /run the post_start hooks \(1\) of shop-web-1--next again, then wait until shop-web-1--next is ready/);
    assert.ok(!printPlan(running).includes(SENTINEL) && !planJson(running).includes(SENTINEL));
    assert.ok(!running.operations.some((operation) => operation.kind === 'start-container'), 'nothing is started: it runs');

    const created = plan(state, observed([container('shop', 'web', 1, { id: 'old', configHash: HASH_A }), container('shop', 'web', 1, { id: 'new', name: 'shop-web-1--next', state: 'created' })]), appliedOld);
    const start = created.operations.find((operation) => operation.kind === 'start-container');
    const watched = created.operations.find((operation) => operation.kind === 'wait-ready');
    assert.ok(start?.kind === 'start-container' && start.spec?.postStart.length === 1, printPlan(created));
    assert.ok(watched?.kind === 'wait-ready' && watched.spec === undefined, 'the start runs them; the watch does not run them twice');

    // SQLite records this container's hooks as finished: a cycle that failed for another reason
    // (not a kill) left the rollout unrecorded, and the watch does not run them a second time.
    const slot = [container('shop', 'web', 1, { id: 'old', configHash: HASH_A }), container('shop', 'web', 1, { id: 'new', name: 'shop-web-1--next' })];
    const finished = plan(state, observed(slot, { postStartDone: ['new'] }), appliedOld);
    const rewatched = finished.operations[0];
    assert.ok(rewatched.kind === 'wait-ready' && rewatched.resumed === true && rewatched.spec === undefined, printPlan(finished));
    assert.ok(plan(state, observed(slot, { postStartDone: ['another'] }), appliedOld).operations.some((operation) => operation.kind === 'wait-ready' && operation.spec !== undefined));
    // A keeper no longer running cannot exec them: the watch alone judges it (a crash loop fails it).
    for (const notRunning of ['restarting', 'paused'] as const) {
      const stuck = plan(state, observed([container('shop', 'web', 1, { id: 'old', configHash: HASH_A }), container('shop', 'web', 1, { id: 'new', name: 'shop-web-1--next', state: notRunning })]), appliedOld);
      assert.ok(!stuck.operations.some((operation) => operation.kind === 'wait-ready' && operation.spec !== undefined), `${notRunning}: ${printPlan(stuck)}`);
    }

    const proven = plan(state, observed([container('shop', 'web', 1, { id: 'new' })]), { appliedHashes: new Map([['shop/web', state.apps[0].services[0].configHash]]) });
    assert.deepEqual(proven.operations, [], 'a proven replica runs nothing again');
    const serving = plan(state, observed([container('shop', 'web', 1, { id: 'new', health: 'starting' })]), { appliedHashes: new Map([['shop/web', state.apps[0].services[0].configHash]]) });
    const watchedServing = serving.operations.find((operation) => operation.kind === 'wait-ready');
    assert.ok(watchedServing?.kind === 'wait-ready' && watchedServing.serving === true && watchedServing.spec === undefined, printPlan(serving));
  });

  it('services without hooks plan as before', () => {
    const result = plan(desired(app('shop', [service('web')])), observed([container('shop', 'web', 1, { configHash: HASH_A })]));
    for (const operation of result.operations) assert.equal('spec' in operation && operation.kind !== 'create-container' ? operation.spec : undefined, undefined, operation.kind);
  });
});
