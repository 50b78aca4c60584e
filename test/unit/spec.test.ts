import assert from 'node:assert/strict';
import { it } from 'node:test';
import { containerCreateOptions } from '../../agent/execute/spec.js';
import type { App } from '../../agent/model.js';

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
  const options = containerCreateOptions(app, service, 2, { name: 'shop-web-2', node: 'n1', commit: 'abc' });
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
  assert.equal(options.HostConfig?.NetworkMode, 'shop_default');
  assert.deepEqual(options.NetworkingConfig?.EndpointsConfig?.shop_default.Aliases, ['web']);
});
