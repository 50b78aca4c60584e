import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PortSpec } from '../../agent/model.js';
import { parseMount, type MountEntry } from '../../agent/load/normalize/mounts.js';
import { parsePort } from '../../agent/load/normalize/ports.js';
import type { MountManifest, PortManifest } from '../../agent/load/schema/schema.js';

describe('parsePort', () => {
  const cases: [entry: PortManifest, port: PortSpec][] = [
    ['80', { containerPort: 80, protocol: 'tcp' }],
    [80, { containerPort: 80, protocol: 'tcp' }],
    ['8080:80', { hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    ['8080:80/udp', { hostPort: 8080, containerPort: 80, protocol: 'udp' }],
    ['53/udp', { containerPort: 53, protocol: 'udp' }],
    ['127.0.0.1:8081:80/udp', { hostIp: '127.0.0.1', hostPort: 8081, containerPort: 80, protocol: 'udp' }],
    ['127.0.0.1::80', { hostIp: '127.0.0.1', containerPort: 80, protocol: 'tcp' }],
    ['[::1]:8080:80', { hostIp: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    ['[::]:443:443/tcp', { hostIp: '::', hostPort: 443, containerPort: 443, protocol: 'tcp' }],
    [' 8080:80 ', { hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    [{ target: 80 }, { containerPort: 80, protocol: 'tcp' }],
    [{ target: 80, published: 8080, host_ip: '10.0.0.1', protocol: 'udp' }, { hostIp: '10.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'udp' }],
  ];
  for (const [entry, port] of cases) {
    it(`${JSON.stringify(entry)}`, () => assert.deepEqual(parsePort(entry), { port }));
  }

  const errors: [entry: PortManifest, messagePart: string][] = [
    ['8000-8010:80', 'ranges are not supported'],
    ['8080:80-81', 'ranges are not supported'],
    ['80/sctp', 'tcp or udp'],
    ['http', 'container port must be a number'],
    ['0', 'container port must be a number from 1 to 65535'],
    ['70000:80', 'host port must be a number from 1 to 65535'],
    [0, 'container port'],
    ['::1:8080:80', 'brackets'],
    ['[::1:8080:80', 'IPv6'],
    ['[::1]:80', 'IPv6'],
    ['localhost:8080:80', 'IP address'],
    [{ target: 80, host_ip: 'example.com' }, 'IP address'],
    ['', 'container port'],
  ];
  for (const [entry, messagePart] of errors) {
    it(`${JSON.stringify(entry)} is refused`, () => {
      const result = parsePort(entry);
      assert.ok('error' in result, JSON.stringify(result));
      assert.ok(result.error.includes(messagePart), result.error);
    });
  }
});

describe('parseMount', () => {
  const cases: [entry: MountManifest, mount: MountEntry][] = [
    ['data:/data', { kind: 'volume', volume: 'data', target: '/data', readOnly: false }],
    ['data:/data:ro', { kind: 'volume', volume: 'data', target: '/data', readOnly: true }],
    ['data:/data:rw', { kind: 'volume', volume: 'data', target: '/data', readOnly: false }],
    ['./conf/app.conf:/etc/app.conf:ro', { kind: 'repo-bind', relativeSource: './conf/app.conf', target: '/etc/app.conf', readOnly: true }],
    ['../shared:/shared', { kind: 'repo-bind', relativeSource: '../shared', target: '/shared', readOnly: false }],
    ['conf/app.conf:/etc/app.conf', { kind: 'repo-bind', relativeSource: 'conf/app.conf', target: '/etc/app.conf', readOnly: false }],
    ['.:/repo', { kind: 'repo-bind', relativeSource: '.', target: '/repo', readOnly: false }],
    ['/srv/x:/x', { kind: 'host-bind', source: '/srv/x', target: '/x', readOnly: false }],
    [{ type: 'volume', source: 'data', target: '/data' }, { kind: 'volume', volume: 'data', target: '/data', readOnly: false }],
    ['/data', { kind: 'anonymous', target: '/data', readOnly: false }],
    [{ type: 'volume', target: '/cache', read_only: true }, { kind: 'anonymous', target: '/cache', readOnly: true }],
    [{ type: 'bind', source: 'conf', target: '/conf', read_only: true }, { kind: 'repo-bind', relativeSource: 'conf', target: '/conf', readOnly: true }],
    [{ type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' }, { kind: 'host-bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock', readOnly: false }],
    ['~/x:/x', { kind: 'host-bind', source: '~/x', target: '/x', readOnly: false }],
    [{ type: 'bind', source: '~/x', target: '/x' }, { kind: 'host-bind', source: '~/x', target: '/x', readOnly: false }],
    ['./conf:/conf:ro,Z', { kind: 'repo-bind', relativeSource: './conf', target: '/conf', readOnly: true, selinux: 'Z' }],
    ['/srv/x:/x:z,cached', { kind: 'host-bind', source: '/srv/x', target: '/x', readOnly: false, selinux: 'z' }],
    ['data:/data:nocopy', { kind: 'volume', volume: 'data', target: '/data', readOnly: false, noCopy: true }],
    ['data:/data:Z', { kind: 'volume', volume: 'data', target: '/data', readOnly: false, selinux: 'Z' }],
    [{ type: 'volume', source: 'data', target: '/data', volume: { nocopy: true } }, { kind: 'volume', volume: 'data', target: '/data', readOnly: false, noCopy: true }],
    [{ type: 'bind', source: '/srv/x', target: '/x', bind: { selinux: 'z' } }, { kind: 'host-bind', source: '/srv/x', target: '/x', readOnly: false, selinux: 'z' }],
  ];
  for (const [entry, mount] of cases) {
    it(`${JSON.stringify(entry)}`, () => assert.deepEqual(parseMount(entry), { mount }));
  }

  const errors: [entry: MountManifest, messagePart: string][] = [
    ['data:/data:shared', 'unknown mount option'],
    ['/srv:/srv:z,Z', 'z or Z, not both'],
    ['/srv:/srv:nocopy', 'nocopy is for volumes'],
    ['data:/data:ro,rw', 'ro or rw, not both'],
    ['data', 'absolute container path alone'],
    [{ type: 'bind', target: '/x' }, 'needs a source'],
    ['data:/data:ro:extra', "too many ':'"],
    [':/data', 'empty'],
    ['data:relative', 'absolute path'],
    ['~other/x:/x', "'~user' is not expanded"],
    [{ type: 'volume', source: './x', target: '/x' }, 'type: bind'],
  ];
  for (const [entry, messagePart] of errors) {
    it(`${JSON.stringify(entry)} is refused`, () => {
      const result = parseMount(entry);
      assert.ok('error' in result, JSON.stringify(result));
      assert.ok(result.error.includes(messagePart), result.error);
    });
  }
});
