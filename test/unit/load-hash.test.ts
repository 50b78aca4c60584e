import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson, configHash } from '../../agent/load/normalize/hash.js';
import type { ServiceDraft } from '../../agent/load/normalize/draft.js';

const key = new TextEncoder().encode('test-hash-key');

function service(): ServiceDraft {
  return {
    app: 'shop',
    name: 'web',
    image: 'local/busybox:1',
    command: ['httpd', '-f'],
    entrypoint: ['/bin/sh', '-c'],
    environment: { MODE: 'production' },
    ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    mounts: [
      { type: 'volume', volume: 'data', target: '/data', readOnly: false },
      { type: 'bind', source: '/tmp/checkout-1/conf', target: '/conf', readOnly: true, repo: { path: 'conf', digest: 'sha256:aaaa' } },
      { type: 'bind', source: '/srv/shared', target: '/shared', readOnly: false },
    ],
    restart: 'unless-stopped',
    labels: { team: 'storefront' },
    replicas: 1,
    source: { file: 'apps/shop.yaml', line: 3 },
  };
}

describe('canonicalJson', () => {
  it('sorts keys at every level, keeps array order and drops undefined members', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: undefined, b: null } }), '{"a":{"b":null,"d":[2,1]},"b":1}');
    assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
  });
});

describe('configHash', () => {
  const baseline = configHash(service(), key);

  it('is a stable hex HMAC-SHA256 for the same service and key', () => {
    assert.match(baseline, /^[0-9a-f]{64}$/);
    assert.equal(configHash(service(), key), baseline);
    const reordered = Object.fromEntries(Object.entries(service()).reverse()) as unknown as ServiceDraft;
    assert.equal(configHash(reordered, key), baseline);
  });

  it('depends on the key', () => {
    assert.notEqual(configHash(service(), new TextEncoder().encode('other-key')), baseline);
  });

  const unchanged: [name: string, change: (draft: ServiceDraft) => void][] = [
    ['replicas', (draft) => (draft.replicas = 5)],
    ['replicas to zero', (draft) => (draft.replicas = 0)],
    ['source position', (draft) => (draft.source = { file: 'moved/shop.yaml', line: 40 })],
    ['absolute path of a repository bind (a new checkout)', (draft) => {
      const mount = draft.mounts[1];
      if (mount.type === 'bind') mount.source = '/tmp/checkout-2/conf';
    }],
  ];
  for (const [name, change] of unchanged) {
    it(`does not change with ${name}`, () => {
      const draft = service();
      change(draft);
      assert.equal(configHash(draft, key), baseline);
    });
  }

  it('ignores a configHash already on the service', () => {
    assert.equal(configHash({ ...service(), configHash: 'old' } as ServiceDraft, key), baseline);
  });

  const changed: [name: string, change: (draft: ServiceDraft) => void][] = [
    ['app', (draft) => (draft.app = 'other')],
    ['name', (draft) => (draft.name = 'api')],
    ['image', (draft) => (draft.image = 'local/busybox:2')],
    ['command', (draft) => (draft.command = ['httpd'])],
    ['command removed', (draft) => delete draft.command],
    ['entrypoint', (draft) => (draft.entrypoint = ['/bin/bash', '-c'])],
    ['environment value', (draft) => (draft.environment.MODE = 'staging')],
    ['environment added', (draft) => (draft.environment.EXTRA = '')],
    ['port host', (draft) => (draft.ports[0].hostPort = 8081)],
    ['port protocol', (draft) => (draft.ports[0].protocol = 'udp')],
    ['port host address', (draft) => (draft.ports[0].hostIp = '127.0.0.1')],
    ['port added', (draft) => draft.ports.push({ containerPort: 443, protocol: 'tcp' })],
    ['port order', (draft) => draft.ports.unshift({ containerPort: 443, protocol: 'tcp' })],
    ['volume target', (draft) => (draft.mounts[0].target = '/var/data')],
    ['read-only flag', (draft) => (draft.mounts[0].readOnly = true)],
    ['repository bind content', (draft) => {
      const mount = draft.mounts[1];
      if (mount.type === 'bind' && mount.repo) mount.repo.digest = 'sha256:bbbb';
    }],
    ['repository bind path', (draft) => {
      const mount = draft.mounts[1];
      if (mount.type === 'bind' && mount.repo) mount.repo.path = 'conf2';
    }],
    ['host bind source', (draft) => {
      const mount = draft.mounts[2];
      if (mount.type === 'bind') mount.source = '/srv/other';
    }],
    ['restart', (draft) => (draft.restart = 'always')],
    ['label value', (draft) => (draft.labels.team = 'checkout')],
    ['label added', (draft) => (draft.labels.tier = 'web')],
  ];
  for (const [name, change] of changed) {
    it(`changes with ${name}`, () => {
      const draft = service();
      change(draft);
      assert.notEqual(configHash(draft, key), baseline);
    });
  }
});
