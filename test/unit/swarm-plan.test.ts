import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secretName } from '../../agent/targets/swarm/names.js';
import { planSwarm } from '../../agent/targets/swarm/plan.js';
import { printSwarmPlan } from '../../agent/targets/swarm/print.js';
import type { ObservedService, RepoFileInfo, SwarmObservedState } from '../../agent/targets/swarm/types.js';
import { app, desired, HASH_A, HASH_B, service as baseService, type DesiredState, type Service } from '../helpers/model.js';

// Golden plans for the Swarm target, as for containers (plan.test.ts): build the observed swarm
// by hand, compare the printed plan. The printer is the one `capstan plan --target swarm` uses.

const HASH_KEY = new Uint8Array(32).fill(7);
const SECRET_VALUE = 'sentinel-secret-value-4242';

/** Swarm services here run 2 replicas unless told. */
const service = (name: string, overrides: Partial<Service> = {}) => baseService(name, { replicas: 2, ...overrides });

const DEFAULT_SETTINGS = { parallelism: 1, delayNs: 0, monitorNs: 5_000_000_000, order: 'start-first' };

function observedService(appName: string, name: string, overrides: Partial<ObservedService> = {}): ObservedService {
  return {
    id: `svc-${appName}-${name}`,
    name: `${appName}_${name}`,
    app: appName,
    service: name,
    configHash: HASH_B,
    commit: 'old',
    replicas: 2,
    networks: [{ network: `${appName}_default`, aliases: [name, `${name}.${appName}`] }],
    update: { ...DEFAULT_SETTINGS, failureAction: 'rollback' },
    rollback: { ...DEFAULT_SETTINGS, failureAction: 'pause' },
    constraints: [],
    secrets: [],
    configs: [],
    updateStatus: undefined,
    readyTasks: 2,
    ...overrides,
  };
}

function observed(overrides: Partial<SwarmObservedState> = {}): SwarmObservedState {
  return {
    node: 'mgr1',
    services: [],
    networks: [],
    secrets: [],
    configs: [],
    legacy: { containers: [], networks: [] },
    foreign: { services: [], networks: [] },
    ...overrides,
  };
}

function printed(state: DesiredState, swarm: SwarmObservedState, repoFiles?: Map<string, RepoFileInfo>, allowEmpty = false): string {
  return printSwarmPlan(planSwarm(state, swarm, { hashKey: HASH_KEY, repoFiles, allowEmpty }));
}

const SECRET_FILE = { target: '/run/secrets/token', value: SECRET_VALUE, mode: 0o400 };
const TOKEN_SECRET = secretName('shop', 'web', SECRET_FILE.target, SECRET_VALUE, HASH_KEY);

describe('swarm planner: golden plans', () => {
  it('creates the overlay network, secret versions and configs before the services', () => {
    const web = service('web', {
      secretFiles: [SECRET_FILE],
      mounts: [{ type: 'bind', source: '/state/checkouts/c0ffee/conf/web.conf', target: '/etc/web.conf', readOnly: true, repo: { path: 'conf/web.conf', digest: 'sha256:' + 'ab'.repeat(32) } }],
    });
    const text = printed(desired(app('shop', [web, service('worker')])), observed());
    assert.equal(
      text,
      [
        'plan for commit c0ffee000000 on node mgr1 (swarm): 5 operation(s)',
        '    1. create overlay network shop_default                 network missing',
        `    2. create secret ${TOKEN_SECRET}             secret file /run/secrets/token of shop/web: new value`,
        '    3. create config shop_file_abababababababab            file conf/web.conf',
        '    4. create service shop_web                             service missing  (after 1-3)',
        '    5. create service shop_worker                          service missing  (after 1)',
        '',
      ].join('\n'),
    );
    assert.ok(!text.includes(SECRET_VALUE), 'a plan never holds a secret value');
  });

  it('is in sync when hash, replicas, networks and update settings match; the commit label alone changes nothing', () => {
    const text = printed(desired(app('shop', [service('web')])), observed({ services: [observedService('shop', 'web')], networks: [{ id: 'n1', name: 'shop_default', app: 'shop' }] }));
    assert.equal(text, 'plan for commit c0ffee000000 on node mgr1 (swarm): in sync, nothing to do\n');
  });

  it('updates a changed service, scales a scaled one, and restores one removed by hand', () => {
    const state = desired(app('shop', [service('api', { configHash: HASH_A }), service('web', { replicas: 3 }), service('worker')]));
    const swarm = observed({
      services: [observedService('shop', 'api', { configHash: HASH_B, replicas: 1 }), observedService('shop', 'web')],
      networks: [{ id: 'n1', name: 'shop_default', app: 'shop' }],
    });
    assert.equal(
      printed(state, swarm),
      [
        'plan for commit c0ffee000000 on node mgr1 (swarm): 3 operation(s)',
        '    1. update service shop_api                             config-hash changed (bbbbbbbb → aaaaaaaa); replicas 1 → 2',
        '    2. scale service shop_web to 3                         replicas 2 → 3',
        '    3. create service shop_worker                          service missing',
        '',
      ].join('\n'),
    );
  });

  it('moves tasks when placement changes, although placement is not in the config hash', () => {
    const placed = service('web', { placement: { labels: { role: 'edge' } } });
    const swarm = observed({ services: [observedService('shop', 'web')], networks: [{ id: 'n1', name: 'shop_default', app: 'shop' }] });
    assert.equal(
      printed(desired(app('shop', [placed])), swarm),
      [
        'plan for commit c0ffee000000 on node mgr1 (swarm): 1 operation(s)',
        '    1. update service shop_web                             placement changed (anywhere → node.labels.role==edge)',
        '',
      ].join('\n'),
    );
    const inPlace = observed({ services: [observedService('shop', 'web', { constraints: ['node.labels.role==edge'] })], networks: [{ id: 'n1', name: 'shop_default', app: 'shop' }] });
    assert.match(printed(desired(app('shop', [placed])), inPlace), /in sync/);
    const several = service('web', { placement: { nodes: ['a', 'b'] } });
    assert.match(printed(desired(app('shop', [several])), swarm), /SWARM_UNSUPPORTED.*placement\.nodes/);
  });

  it('sends the spec again when only update settings or granted networks changed', () => {
    const slow = service('web', { update: { order: 'stop-first', parallelism: 2, delayMs: 1000, monitorMs: 5000, failureAction: 'pause', progressDeadlineMs: 60_000 } });
    const consumer = service('worker', { uses: [{ app: 'db' }] });
    const state = desired(app('db', [service('postgres', { replicas: 1 })]), app('shop', [slow, consumer]));
    const swarm = observed({
      services: [observedService('db', 'postgres', { replicas: 1 }), observedService('shop', 'web'), observedService('shop', 'worker')],
      networks: ['db_default', 'shop_default'].map((name, index) => ({ id: `n${index}`, name, app: name.split('_')[0] })),
    });
    const plan = planSwarm(state, swarm, { hashKey: HASH_KEY });
    assert.equal(
      printSwarmPlan(plan),
      [
        'plan for commit c0ffee000000 on node mgr1 (swarm): 2 operation(s)',
        '    1. update service shop_web                             update settings changed',
        '    2. update service shop_worker                          networks changed (+db_default)',
        '',
      ].join('\n'),
    );
    const [settings, networks] = plan.operations;
    assert.equal(settings.kind === 'update-service' && settings.rolling, false, 'settings alone replace no task');
    assert.equal(networks.kind === 'update-service' && networks.rolling, true);
  });

  it('rotates a secret by name: a new value is a new version, the old one goes once no service uses it', () => {
    const rotated = { ...SECRET_FILE, value: 'another-value' };
    const newName = secretName('shop', 'web', rotated.target, rotated.value, HASH_KEY);
    assert.notEqual(newName, TOKEN_SECRET);
    const swarm = observed({
      services: [observedService('shop', 'web', { secrets: [TOKEN_SECRET] })],
      networks: [{ id: 'n1', name: 'shop_default', app: 'shop' }],
      secrets: [{ id: 's-old', name: TOKEN_SECRET, app: 'shop' }],
    });
    assert.equal(
      printed(desired(app('shop', [service('web', { secretFiles: [rotated], configHash: HASH_A })])), swarm),
      [
        'plan for commit c0ffee000000 on node mgr1 (swarm): 3 operation(s)',
        `    1. create secret ${newName}             secret file /run/secrets/token of shop/web: new value`,
        '    2. update service shop_web                             config-hash changed (bbbbbbbb → aaaaaaaa)  (after 1)',
        `    3. remove secret ${TOKEN_SECRET}             no service uses this version any more  (after 2)`,
        '',
      ].join('\n'),
    );
  });

  it('prunes a removed app: services first, then its network, secrets and configs', () => {
    const swarm = observed({
      services: [observedService('blog', 'db'), observedService('blog', 'web'), observedService('shop', 'web')],
      networks: [
        { id: 'n1', name: 'blog_default', app: 'blog' },
        { id: 'n2', name: 'shop_default', app: 'shop' },
      ],
      secrets: [{ id: 's1', name: 'blog_db_0123456789abcdef', app: 'blog' }],
      configs: [{ id: 'c1', name: 'blog_file_0123456789abcdef', app: 'blog' }],
    });
    assert.equal(
      printed(desired(app('shop', [service('web')])), swarm),
      [
        'plan for commit c0ffee000000 on node mgr1 (swarm): 5 operation(s)',
        '    1. remove service blog_db                              removed from repo',
        '    2. remove service blog_web                             removed from repo',
        '    3. remove overlay network blog_default                 no longer used  (after 1, 2)',
        '    4. remove secret blog_db_0123456789abcdef              no service uses this version any more  (after 1, 2)',
        '    5. remove config blog_file_0123456789abcdef            no service uses this file any more  (after 1, 2)',
        '',
      ].join('\n'),
    );
  });

  it('replaces what the containers target left: containers, then the local network, named volumes kept', () => {
    const swarm = observed({
      legacy: { containers: [{ id: 'c1', name: 'shop-web-1', app: 'shop' }], networks: [{ id: 'l1', name: 'shop_default', app: 'shop' }] },
    });
    assert.equal(
      printed(desired(app('shop', [service('web')])), swarm),
      [
        'plan for commit c0ffee000000 on node mgr1 (swarm): 4 operation(s)',
        '    1. remove container shop-web-1                         replaced by a Swarm service (--target swarm)',
        '    2. remove local network shop_default                   replaced by an overlay network (--target swarm)  (after 1)',
        '    3. create overlay network shop_default                 network missing  (after 2)',
        '    4. create service shop_web                             service missing  (after 1, 3)',
        '',
      ].join('\n'),
    );
  });

  it('refuses what Swarm cannot honour, naming the service and the field, and changes nothing', () => {
    const web = service('web', {
      ports: [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
      dependsOn: [{ service: 'db', condition: 'service_healthy' }],
      runtime: 'runsc',
      tmpfs: { '/cache': 'size=64m,noexec' },
      mounts: [{ type: 'bind', source: '/ck/conf', target: '/etc/conf', readOnly: true, repo: { path: 'conf', digest: 'sha256:' + '00'.repeat(32) } }],
    });
    const sidecar = service('proxy', { networkMode: { kind: 'service', service: 'web' } });
    const built = service('job', {
      build: { context: '/ck/job', contextPath: 'job', contextDigest: 'sha256:1', dockerfile: 'Dockerfile', args: {} },
      privileged: true,
      devices: [{ host: '/dev/fuse', container: '/dev/fuse', permissions: 'rwm' }],
    });
    const volumes = [
      { name: 'cache', dockerName: 'shop_cache', labels: {}, remove: true },
      { name: 'data', dockerName: 'shop_data', labels: {}, snapshot: { schedule: '0 * * * *', keep: { daily: 7 }, repository: 'nas', handoffTimeoutMs: 600_000 } },
      { name: 'media', dockerName: 'media', labels: {}, external: { line: 9 } },
    ];
    const repoFiles = new Map<string, RepoFileInfo>([['/ck/conf', { kind: 'folder', sizeBytes: 4096 }]]);
    const plan = planSwarm(desired(app('shop', [web, sidecar, built], volumes)), observed(), { hashKey: HASH_KEY, repoFiles });
    assert.deepEqual(plan.operations, []);
    const messages = plan.problems.map((problem) => `${problem.code} ${problem.message.replace(/^(app|service) \S+ \([^)]*\): /, '')}`);
    const fields = plan.problems.map((problem) => /^(?:app|service) (\S+)/.exec(problem.message)?.[1]);
    assert.deepEqual(
      messages.map((message) => message.split(':')[0]),
      [
        'SWARM_UNSUPPORTED volumes.cache.remove',
        'SWARM_UNSUPPORTED volumes.media.external',
        'SWARM_UNSUPPORTED volumes.data.snapshot',
        'SWARM_UNSUPPORTED depends_on',
        'SWARM_UNSUPPORTED runtime',
        'SWARM_UNSUPPORTED tmpfs /cache',
        'SWARM_UNSUPPORTED ports 127.0.0.1',
        'SWARM_UNSUPPORTED volumes conf',
        'SWARM_UNSUPPORTED network_mode',
        'SWARM_UNSUPPORTED build',
        'SWARM_UNSUPPORTED privileged',
        'SWARM_UNSUPPORTED devices',
      ],
    );
    assert.deepEqual(fields, ['shop', 'shop', 'shop', 'shop/web', 'shop/web', 'shop/web', 'shop/web', 'shop/web', 'shop/proxy', 'shop/job', 'shop/job', 'shop/job']);
    assert.match(printSwarmPlan(plan), /^plan for commit c0ffee000000 on node mgr1 \(swarm\): blocked by 12 problem\(s\), nothing will change\n/);
  });

  it('reports names held by objects it does not own instead of taking them over', () => {
    const swarm = observed({ foreign: { services: ['shop_web'], networks: ['shop_default'] } });
    const plan = planSwarm(desired(app('shop', [service('web')])), swarm, { hashKey: HASH_KEY });
    assert.deepEqual(
      plan.problems.map((problem) => problem.code),
      ['NAME_CONFLICT', 'NAME_CONFLICT'],
    );
    assert.match(plan.problems[0].message, /service 'shop_web' needed by app 'shop'/);
    assert.match(plan.problems[1].message, /network 'shop_default' needed by app 'shop'/);
  });

  it('sees through a rollout an earlier cycle sent but did not wait for, and only that', () => {
    const state = desired(app('shop', [service('api'), service('web'), service('worker')]));
    const swarm = observed({
      services: [
        observedService('shop', 'api', { updateStatus: { state: 'updating', startedAt: 'T1' } }),
        observedService('shop', 'web', { updateStatus: { state: 'rollback_started', startedAt: 'T1' } }),
        observedService('shop', 'worker', { updateStatus: { state: 'completed', startedAt: 'T1' } }),
      ],
      networks: [{ id: 'n1', name: 'shop_default', app: 'shop' }],
    });
    assert.equal(
      printed(state, swarm),
      [
        'plan for commit c0ffee000000 on node mgr1 (swarm): 1 operation(s)',
        "    1. wait for Swarm to roll out shop_api                 Swarm's update is updating (sent by an earlier cycle)",
        '',
      ].join('\n'),
    );
  });

  it('refuses to remove every service when a commit renders none, unless allowed', () => {
    const swarm = observed({ services: [observedService('shop', 'web')], networks: [{ id: 'n1', name: 'shop_default', app: 'shop' }] });
    assert.equal(planSwarm(desired(), swarm, { hashKey: HASH_KEY }).problems[0].code, 'EMPTY_DESIRED_STATE');
    const allowed = planSwarm(desired(), swarm, { hashKey: HASH_KEY, allowEmpty: true });
    assert.deepEqual(
      allowed.operations.map((operation) => operation.kind),
      ['remove-service', 'remove-network'],
    );
  });
});
