import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { networkLayout } from '../../agent/targets/networks.js';
import { configName, secretName, serviceNameProblem } from '../../agent/targets/swarm/names.js';
import { readyTasks, rolloutDeadlineMs, rolloutVerdict, type RolloutExpectation, type TaskView } from '../../agent/targets/swarm/rollout.js';
import { desiredSwarmService, parseTmpfsOptions, withReferenceIds } from '../../agent/targets/swarm/spec.js';
import { COMMIT, service as baseService, type App, type DesiredState, type Service } from '../helpers/model.js';

// The mapping from the model to Swarm's ServiceSpec, pinned field by field, and the pure halves
// of the rollout watch (how long to wait, what Swarm's update state means), as tables.

const HASH_KEY = new Uint8Array(32).fill(7);
const SECRET_VALUE = 'sentinel-secret-value-4242';

const service = (overrides: Partial<Service> = {}) => baseService('web', { image: 'registry.example.com/shop/web:1.4.2', configHash: 'hash-web', ...overrides });

function build(web: Service, volumes: App['volumes'] = [], others: App[] = []) {
  const app: App = { name: 'shop', source: { file: 'shop.yaml', line: 1 }, services: [web], volumes };
  const desired: DesiredState = { commit: COMMIT, apps: [...others, app].sort((left, right) => (left.name < right.name ? -1 : 1)) };
  const swarm = desiredSwarmService(app, web, { node: 'mgr1', commit: COMMIT, layout: networkLayout(desired), hashKey: HASH_KEY });
  // The executor names each secret and config by id as well, as Swarm wants.
  const ids = (refs: { name: string }[]) => new Map(refs.map((ref) => [ref.name, `id-${ref.name}`]));
  return { ...swarm, spec: withReferenceIds(swarm.spec, { secrets: ids(swarm.secrets), configs: ids(swarm.configs) }) };
}

describe('swarm spec: model service → ServiceSpec', () => {
  it('maps every supported field', () => {
    const web = service({
      entrypoint: ['/bin/tini', '--'],
      command: ['./server', '--port', '8080'],
      environment: { LOG_LEVEL: 'info' },
      labels: { team: 'web' },
      replicas: 3,
      ports: [{ hostPort: 8080, containerPort: 8080, protocol: 'tcp' }, { containerPort: 9090, protocol: 'udp' }],
      mounts: [
        { type: 'volume', volume: 'data', target: '/var/lib/shop', readOnly: false },
        { type: 'bind', source: '/srv/uploads', target: '/uploads', readOnly: true },
        { type: 'bind', source: '/ck/conf/web.conf', target: '/etc/web.conf', readOnly: true, repo: { path: 'conf/web.conf', digest: 'sha256:' + 'cd'.repeat(32) } },
      ],
      secretFiles: [{ target: '/run/secrets/db_password', value: SECRET_VALUE, mode: 0o440 }],
      healthcheck: { test: ['CMD', 'true'], intervalMs: 1000, timeoutMs: 2000, retries: 3, startPeriodMs: 500 },
      update: { order: 'start-first', parallelism: 2, delayMs: 1000, monitorMs: 3000, failureAction: 'rollback', progressDeadlineMs: 30_000 },
      user: '1000:100',
      readOnly: true,
      stopSignal: 'SIGQUIT',
      stopGracePeriodMs: 20_000,
      init: true,
      capAdd: ['NET_BIND_SERVICE'],
      capDrop: ['ALL'],
      ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }],
      resources: { nanoCpus: 500_000_000, memoryBytes: 256 * 1024 * 1024, memoryReservationBytes: 64 * 1024 * 1024, pidsLimit: 100 },
      tmpfs: { '/cache': 'size=64m,mode=1777' },
      uses: [{ app: 'db' }],
    });
    const db: App = { name: 'db', source: { file: 'db.yaml', line: 1 }, services: [service({ app: 'db', name: 'postgres' })], volumes: [] };
    const swarm = build(web, [{ name: 'data', dockerName: 'shop_data', labels: { backup: 'daily' }, shared: true }], [db]);
    const secret = secretName('shop', 'web', '/run/secrets/db_password', SECRET_VALUE, HASH_KEY);
    const config = configName('shop', 'sha256:' + 'cd'.repeat(32));
    assert.deepEqual(swarm.spec, {
      Name: 'shop_web',
      Labels: {
        team: 'web',
        'capstan.managed': 'true',
        'capstan.node': 'mgr1',
        'capstan.app': 'shop',
        'capstan.service': 'web',
        'capstan.config-hash': 'hash-web',
        'capstan.commit': COMMIT,
      },
      TaskTemplate: {
        ContainerSpec: {
          Image: 'registry.example.com/shop/web:1.4.2',
          Labels: { team: 'web', 'capstan.node': 'mgr1', 'capstan.app': 'shop', 'capstan.service': 'web', 'capstan.config-hash': 'hash-web' },
          Env: ['LOG_LEVEL=info'],
          Mounts: [
            { Type: 'volume', Source: 'shop_data', Target: '/var/lib/shop', ReadOnly: false, VolumeOptions: { Labels: { backup: 'daily', 'capstan.managed': 'true', 'capstan.node': 'mgr1', 'capstan.app': 'shop' } } },
            { Type: 'bind', Source: '/srv/uploads', Target: '/uploads', ReadOnly: true },
            { Type: 'tmpfs', Source: '', Target: '/cache', TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777 } },
          ],
          Secrets: [{ SecretName: secret, SecretID: `id-${secret}`, File: { Name: '/run/secrets/db_password', UID: '1000', GID: '100', Mode: 0o440 } }],
          Configs: [{ ConfigName: config, ConfigID: `id-${config}`, File: { Name: '/etc/web.conf', UID: '0', GID: '0', Mode: 0o444 } }],
          Command: ['/bin/tini', '--'],
          Args: ['./server', '--port', '8080'],
          HealthCheck: { Test: ['CMD', 'true'], Interval: 1e9, Timeout: 2e9, Retries: 3, StartPeriod: 5e8 },
          User: '1000:100',
          ReadOnly: true,
          StopSignal: 'SIGQUIT',
          StopGracePeriod: 20e9,
          Init: true,
          CapabilityAdd: ['CAP_NET_BIND_SERVICE'],
          CapabilityDrop: ['CAP_ALL'],
          Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
        },
        RestartPolicy: { Condition: 'any' },
        Networks: [
          { Target: 'shop_default', Aliases: ['web', 'web.shop'] },
          { Target: 'db_default', Aliases: [] },
        ],
        Resources: { Limits: { NanoCPUs: 500_000_000, MemoryBytes: 256 * 1024 * 1024, Pids: 100 }, Reservations: { MemoryBytes: 64 * 1024 * 1024 } },
      },
      Mode: { Replicated: { Replicas: 3 } },
      UpdateConfig: { Parallelism: 2, Delay: 1e9, FailureAction: 'rollback', Monitor: 3e9, MaxFailureRatio: 0, Order: 'start-first' },
      RollbackConfig: { Parallelism: 2, Delay: 1e9, FailureAction: 'pause', Monitor: 3e9, MaxFailureRatio: 0, Order: 'start-first' },
      EndpointSpec: {
        Mode: 'vip',
        Ports: [
          { Protocol: 'tcp', TargetPort: 8080, PublishedPort: 8080, PublishMode: 'ingress' },
          { Protocol: 'udp', TargetPort: 9090, PublishedPort: undefined, PublishMode: 'ingress' },
        ],
      },
    });
    assert.ok(!JSON.stringify(swarm.spec.Labels).includes(SECRET_VALUE) && !secret.includes(SECRET_VALUE), 'no value in labels or names');
  });

  it('rolls out stop-first when a single-writer volume is mounted read-write; a published port does not force it', () => {
    const mounts: Service['mounts'] = [{ type: 'volume', volume: 'db', target: '/var/lib/db', readOnly: false }];
    const ports: Service['ports'] = [{ hostPort: 5432, containerPort: 5432, protocol: 'tcp' }];
    assert.equal(build(service({ mounts }), [{ name: 'db', dockerName: 'shop_db', labels: {} }]).update.order, 'stop-first');
    assert.equal(build(service({ mounts }), [{ name: 'db', dockerName: 'shop_db', labels: {}, shared: true }]).update.order, 'start-first');
    assert.equal(build(service({ ports })).update.order, 'start-first');
  });

  it('maps restart policies to Swarm conditions', () => {
    const conditions = (['no', 'on-failure', 'always', 'unless-stopped'] as const).map(
      (restart) => (build(service({ restart })).spec.TaskTemplate as { RestartPolicy: { Condition: string } }).RestartPolicy.Condition,
    );
    assert.deepEqual(conditions, ['none', 'on-failure', 'any', 'any']);
    const limited = build(service({ restart: 'on-failure', restartMaxRetries: 4 })).spec.TaskTemplate as { RestartPolicy: unknown };
    assert.deepEqual(limited.RestartPolicy, { Condition: 'on-failure', MaxAttempts: 4 });
  });
});

describe('swarm names', () => {
  it('names secret versions by a keyed digest of target and value, never the value', () => {
    const first = secretName('shop', 'web', '/run/secrets/a', 'pw1', HASH_KEY);
    assert.match(first, /^shop_web_[0-9a-f]{16}$/);
    assert.equal(secretName('shop', 'web', '/run/secrets/a', 'pw1', HASH_KEY), first, 'stable for the same value');
    assert.notEqual(secretName('shop', 'web', '/run/secrets/a', 'pw2', HASH_KEY), first, 'a new value is a new version');
    assert.notEqual(secretName('shop', 'web', '/run/secrets/b', 'pw1', HASH_KEY), first, 'two files with one value are two secrets');
    assert.notEqual(secretName('shop', 'web', '/run/secrets/a', 'pw1', new Uint8Array(32)), first, 'keyed per state dir');
  });

  it('fits long names into Swarm\'s 64 characters by cutting the prefix, never the digest', () => {
    const app = 'a'.repeat(40);
    const name = secretName(app, 'b'.repeat(40), '/x', 'v', HASH_KEY);
    assert.equal(name.length, 64);
    assert.match(name, /^a{40}_b{6}_[0-9a-f]{16}$/);
    assert.equal(configName('shop', 'sha256:' + 'ef'.repeat(32)), 'shop_file_efefefefefefefef');
  });

  it('checks service names against Swarm\'s rules', () => {
    assert.equal(serviceNameProblem('shop_web'), undefined);
    assert.match(serviceNameProblem(`${'a'.repeat(40)}_${'b'.repeat(30)}`) ?? '', /71 characters; Swarm allows 63/);
    assert.match(serviceNameProblem('shop_web-') ?? '', /not a valid Swarm service name/);
  });

  it('parses the tmpfs options Swarm knows, and names the ones it does not', () => {
    assert.deepEqual(parseTmpfsOptions('size=64m,mode=1777'), { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777 });
    assert.deepEqual(parseTmpfsOptions(''), {});
    assert.deepEqual(parseTmpfsOptions('size=1024'), { SizeBytes: 1024 });
    assert.match(parseTmpfsOptions('size=1m,noexec') as string, /'noexec'/);
  });
});

describe('swarm rollouts: deadline and verdict', () => {
  it('gives each batch the progress deadline, the monitor period and the delay', () => {
    const update = (parallelism: number, delayMs = 0) => ({ order: 'start-first' as const, parallelism, delayMs, monitorMs: 5000, failureAction: 'rollback' as const, progressDeadlineMs: 30_000 });
    const table: [number, number, number, number][] = [
      // replicas, parallelism, delay, expected
      [3, 1, 0, 3 * 35_000],
      [3, 2, 0, 2 * 35_000],
      [3, 0, 0, 35_000],
      [1, 1, 1000, 36_000],
      [0, 1, 0, 35_000],
    ];
    for (const [replicas, parallelism, delayMs, expected] of table) {
      assert.equal(rolloutDeadlineMs(service({ replicas, update: update(parallelism, delayMs) })), expected, `${replicas} replicas, parallelism ${parallelism}`);
    }
  });

  const task = (overrides: Partial<TaskView>): TaskView => ({ slot: 1, state: 'running', desiredState: 'running', configHash: 'new', error: '', exitCode: undefined, timestamp: '2026-01-01T00:00:01Z', ...overrides });
  const rolling: RolloutExpectation = { configHash: 'new', replicas: 2, oneShot: false, rolling: true, previousStartedAt: 'T0', created: false };
  const running = [task({ slot: 1 }), task({ slot: 2 })];

  it('follows Swarm\'s UpdateStatus for a rolling update', () => {
    const table: [string, Parameters<typeof rolloutVerdict>[1], TaskView[], string][] = [
      ['no status yet', undefined, running, 'pending'],
      ['the previous update\'s status', { state: 'completed', startedAt: 'T0' }, running, 'pending'],
      ['updating', { state: 'updating', startedAt: 'T1' }, running, 'pending'],
      ['completed, tasks running', { state: 'completed', startedAt: 'T1' }, running, 'ready'],
      ['completed, a task still starting', { state: 'completed', startedAt: 'T1' }, [task({ slot: 1 }), task({ slot: 2, state: 'starting' })], 'pending'],
      ['rolling back', { state: 'rollback_started', startedAt: 'T1' }, running, 'pending'],
      ['rolled back', { state: 'rollback_completed', startedAt: 'T1', message: 'rollback completed' }, running, 'failed'],
      ['paused', { state: 'paused', startedAt: 'T1', message: 'update paused due to failure' }, running, 'failed'],
    ];
    for (const [name, status, tasks, expected] of table) assert.equal(rolloutVerdict(rolling, status, tasks).kind, expected, name);
  });

  it('explains a rollback with Swarm\'s first message and the task that failed by itself', () => {
    const tasks = [
      task({ slot: 2, state: 'shutdown', error: 'shutdown', timestamp: '2026-01-01T00:00:09Z' }),
      task({ slot: 1, state: 'failed', error: 'task: non-zero exit (1)', exitCode: 1, timestamp: '2026-01-01T00:00:05Z' }),
      task({ slot: 1, configHash: 'old' }),
    ];
    const verdict = rolloutVerdict(rolling, { state: 'rollback_completed', startedAt: 'T1', message: 'rollback completed' }, tasks, 'update rolled back due to failure of task x');
    assert.deepEqual(verdict, {
      kind: 'failed',
      message: 'Swarm rolled the update back: update rolled back due to failure of task x; new task 1 failed, exit code 1: task: non-zero exit (1)',
    });
  });

  it('calls a new service failed as soon as one of its tasks ends, and ready once all run', () => {
    const created: RolloutExpectation = { ...rolling, rolling: false, created: true, previousStartedAt: undefined };
    assert.equal(rolloutVerdict(created, undefined, [task({ state: 'starting' })]).kind, 'pending');
    assert.equal(rolloutVerdict(created, undefined, running).kind, 'ready');
    assert.deepEqual(rolloutVerdict(created, undefined, [task({ state: 'rejected', error: 'No such image: nope:1' })]), { kind: 'failed', message: 'task 1 rejected: No such image: nope:1' });
    assert.equal(rolloutVerdict({ ...created, created: false }, undefined, [task({ state: 'failed' }), ...running]).kind, 'ready', 'a scale ignores old failures');
  });

  it('counts only running tasks of the expected config (and finished one-shots)', () => {
    const tasks = [task({}), task({ configHash: 'old' }), task({ desiredState: 'shutdown' }), task({ state: 'complete', exitCode: 0 })];
    assert.equal(readyTasks(tasks, 'new', false), 1);
    assert.equal(readyTasks(tasks, 'new', true), 2);
  });
});
