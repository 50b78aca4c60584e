import assert from 'node:assert/strict';
import { it } from 'node:test';
import { maskValues } from '../../agent/targets/containers/execute-build.js';
import { registryAuth } from '../../agent/targets/registry-auth.js';
import { containerCreateOptions } from '../../agent/targets/containers/execute-spec.js';
import { numericUser } from '../../agent/load/normalize/spec.js';
import { registryHost, registryKey } from '../../agent/load/variables/registries.js';
import { service, type App, type Service } from '../helpers/model.js';

it('container spec carries the label contract, which user labels cannot override', () => {
  const app: App = {
    name: 'shop',
    source: { file: 'shop.yaml', line: 1 },
    volumes: [{ name: 'data', dockerName: 'shop_data', labels: {} }],
    services: [],
  };
  const service = {
    app: 'shop',
    name: 'web',
    image: 'local/busybox:1',
    command: ['httpd', '-f'],
    environment: { GREETING: 'hi' },
    ports: [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }],
    mounts: [
      { type: 'volume' as const, volume: 'data', target: '/data', readOnly: false },
      { type: 'bind' as const, source: '/srv/conf', target: '/conf', readOnly: true },
    ],
    restart: 'no' as const,
    labels: { 'capstan.app': 'evil', team: 'a' },
    replicas: 2,
    configHash: 'h1',
    source: { file: 'shop.yaml', line: 2 },
  };
  const endpoints = [{ network: 'shop_default', aliases: ['web', 'web.shop'] }];
  const options = containerCreateOptions(app, service, 2, { name: 'shop-web-2', node: 'n1', commit: 'abc', endpoints });
  assert.deepEqual(options.Labels, {
    team: 'a',
    'capstan.managed': 'true',
    'capstan.node': 'n1',
    'capstan.app': 'shop',
    'capstan.service': 'web',
    'capstan.replica': '2',
    'capstan.config-hash': 'h1',
    'capstan.commit': 'abc',
  });
  assert.deepEqual(options.Env, ['GREETING=hi']);
  assert.deepEqual(options.HostConfig?.PortBindings, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] });
  assert.deepEqual(options.HostConfig?.Mounts?.[0], { Type: 'volume', Source: 'shop_data', Target: '/data', ReadOnly: false });
  assert.equal(options.HostConfig?.RestartPolicy?.Name, '');
  assert.equal('MaximumRetryCount' in options.HostConfig!.RestartPolicy!, false);
  const retried = containerCreateOptions(app, { ...service, restart: 'on-failure', restartMaxRetries: 3 }, 2, { name: 'shop-web-2', node: 'n1', commit: 'abc', endpoints });
  assert.deepEqual(retried.HostConfig?.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
  assert.equal(options.HostConfig?.NetworkMode, 'shop_default');
  assert.deepEqual(options.NetworkingConfig?.EndpointsConfig?.shop_default.Aliases, ['web', 'web.shop']);
  // Nothing the manifest did not set: Docker's defaults stay Docker's.
  for (const key of ['NanoCpus', 'Memory', 'Runtime', 'Privileged', 'CapAdd', 'ReadonlyRootfs', 'Init']) assert.equal(key in options.HostConfig!, false, key);
  assert.equal('User' in options, false);
  assert.equal('StopTimeout' in options, false);
});

const bare: Service = service('web', { configHash: 'h1', source: { file: 'shop.yaml', line: 2 } });
const shop: App = { name: 'shop', source: { file: 'shop.yaml', line: 1 }, volumes: [], services: [] };
const context = { name: 'shop-web-1', node: 'n1', commit: 'abc', endpoints: [{ network: 'shop_internal', aliases: ['web', 'web.shop'] }] };

it('container spec maps resources, isolation and stop settings to Docker', () => {
  const options = containerCreateOptions(
    shop,
    {
      ...bare,
      resources: { nanoCpus: 500_000_000, memoryBytes: 268_435_456, memoryReservationBytes: 134_217_728, pidsLimit: 100, shmSizeBytes: 67_108_864 },
      ulimits: [{ name: 'nofile', soft: 1024, hard: 4096 }],
      user: '1000:1000',
      readOnly: true,
      tmpfs: { '/tmp': 'size=64m' },
      capAdd: ['NET_ADMIN'],
      capDrop: ['ALL'],
      init: true,
      stopSignal: 'SIGINT',
      stopGracePeriodMs: 1500,
      runtime: 'runsc',
      privileged: true,
      pid: 'host',
      devices: [{ host: '/dev/fuse', container: '/dev/fuse', permissions: 'rwm' }],
    },
    1,
    context,
  );
  assert.deepEqual(options.HostConfig, {
    PortBindings: {},
    Mounts: [],
    RestartPolicy: { Name: 'unless-stopped' },
    NetworkMode: 'shop_internal',
    NanoCpus: 500_000_000,
    Memory: 268_435_456,
    MemoryReservation: 134_217_728,
    PidsLimit: 100,
    ShmSize: 67_108_864,
    Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 4096 }],
    ReadonlyRootfs: true,
    Tmpfs: { '/tmp': 'size=64m' },
    CapAdd: ['NET_ADMIN'],
    CapDrop: ['ALL'],
    Init: true,
    Runtime: 'runsc',
    Privileged: true,
    PidMode: 'host',
    Devices: [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' }],
  });
  assert.equal(options.User, '1000:1000');
  assert.equal(options.StopSignal, 'SIGINT');
  assert.equal(options.StopTimeout, 2, 'whole seconds, rounded up');
});

it('container spec: a sidecar joins the namespace of its parent replica; host and none modes join no network', () => {
  const sidecar = containerCreateOptions(shop, { ...bare, name: 'proxy', networkMode: { kind: 'service', service: 'web' } }, 3, { ...context, endpoints: [] });
  assert.equal(sidecar.HostConfig?.NetworkMode, 'container:shop-web-3');
  assert.equal(sidecar.NetworkingConfig, undefined);
  const host = containerCreateOptions(shop, { ...bare, networkMode: { kind: 'host' } }, 1, { ...context, endpoints: [] });
  assert.equal(host.HostConfig?.NetworkMode, 'host');
  assert.equal(containerCreateOptions(shop, { ...bare, networkMode: { kind: 'none' } }, 1, { ...context, endpoints: [] }).HostConfig?.NetworkMode, 'none');
});

it('numeric users own secret files; names leave them to root', () => {
  assert.deepEqual(numericUser('1000'), { uid: 1000, gid: 0 });
  assert.deepEqual(numericUser('1000:100'), { uid: 1000, gid: 100 });
  assert.equal(numericUser('nobody'), undefined);
  assert.equal(numericUser('1000:staff'), undefined);
  assert.equal(numericUser(undefined), undefined);
});

it('registry hosts and their variable names', () => {
  const table: [string, string, string][] = [
    ['busybox', 'docker.io', 'DOCKER_IO'],
    ['library/busybox:1', 'docker.io', 'DOCKER_IO'],
    ['ghcr.io/acme/web:1', 'ghcr.io', 'GHCR_IO'],
    ['127.0.0.1:5000/shop/web:2', '127.0.0.1:5000', '127_0_0_1_5000'],
    ['localhost/web', 'localhost', 'LOCALHOST'],
    ['index.docker.io/library/nginx', 'docker.io', 'DOCKER_IO'],
  ];
  for (const [image, host, key] of table) {
    assert.equal(registryHost(image), host, image);
    assert.equal(registryKey(host), key, image);
  }
});

it('registry credentials: the repository first, then the host Docker config', async () => {
  const dockerConfig = async () => ({
    auths: {
      'https://index.docker.io/v1/': { auth: Buffer.from('hub:hubpass').toString('base64') },
      'reg.example.com': { username: 'u', password: 'p' },
    },
  });
  const repository = [{ key: 'REG_EXAMPLE_COM', username: 'repo', password: 'repopass' }];
  assert.deepEqual(await registryAuth('busybox:1', repository, dockerConfig), { username: 'hub', password: 'hubpass', serveraddress: 'docker.io' });
  assert.deepEqual(await registryAuth('reg.example.com/web', repository, dockerConfig), {
    username: 'repo',
    password: 'repopass',
    serveraddress: 'reg.example.com',
  });
  assert.deepEqual(await registryAuth('reg.example.com/web', undefined, dockerConfig), { username: 'u', password: 'p', serveraddress: 'reg.example.com' });
  assert.equal(await registryAuth('ghcr.io/x/y', repository, dockerConfig), undefined);
  assert.equal(await registryAuth('ghcr.io/x/y', undefined, async () => undefined), undefined);
});

it('build output and errors mask every build argument value', () => {
  assert.equal(maskValues('token=s3cr3t-value; again s3cr3t-value', ['s3cr3t-value', 'abc']), 'token=***; again ***');
  assert.equal(maskValues('abc stays: too short to mask safely', ['abc']), 'abc stays: too short to mask safely');
});

it('readiness for a completion dependency: ready only once exited 0', async () => {
  const { readiness } = await import('../../agent/targets/containers/execute-readiness.js');
  const rule = { monitorMs: 1000, oneShot: true, deadline: 10_000, completion: true };
  const view = (state: Partial<{ Status: string; Running: boolean; ExitCode: number }>) => ({
    Status: 'running',
    Running: true,
    Restarting: false,
    ExitCode: 0,
    StartedAt: new Date(0).toISOString(),
    ...state,
  });
  assert.equal(readiness(view({}), rule, 5_000).state, 'pending', 'running for long is not completed');
  assert.equal(readiness(view({}), rule, 20_000).state, 'failed', 'past the deadline');
  assert.equal(readiness(view({ Status: 'exited', Running: false, ExitCode: 0 }), rule, 5_000).state, 'ready');
  assert.deepEqual(readiness(view({ Status: 'exited', Running: false, ExitCode: 2 }), rule, 5_000), { state: 'failed', reason: 'exited with exit code 2' });
  assert.equal(readiness(view({}), { ...rule, completion: false }, 5_000).state, 'ready', 'without it, running past the monitor is ready');
});

it('network layout: an egress-less consumer of a whole app joins that app\'s internal network', async () => {
  const { networkLayout } = await import('../../agent/targets/networks.js');
  const shopApp: App = { ...shop, services: [{ ...bare, egress: false, uses: [{ app: 'db' }] }] };
  const db: App = { name: 'db', source: { file: 'db.yaml', line: 1 }, volumes: [], services: [{ ...bare, app: 'db', name: 'pg' }] };
  const layout = networkLayout({ commit: 'c', apps: [db, shopApp] });
  assert.deepEqual(
    layout.networks.map((network) => [network.name, network.internal]),
    [
      ['db_default', false],
      ['db_internal', true],
      ['shop_default', false],
      ['shop_internal', true],
    ],
  );
  assert.deepEqual(layout.endpoints('shop', 'web'), [
    { network: 'shop_internal', aliases: ['web', 'web.shop'] },
    { network: 'db_internal', aliases: [] },
  ]);
  assert.deepEqual(layout.endpoints('db', 'pg'), [
    { network: 'db_default', aliases: ['pg', 'pg.db'] },
    { network: 'db_internal', aliases: ['pg', 'pg.db'] },
  ]);
});
