// Image update automation, the parts without I/O: which tag a semver policy follows, what a
// record resolves to, how a manifest's `update.image` is validated, the registry's Link header.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatProblem } from '../../agent/errors.js';
import { decide, describeResolution } from '../../agent/image-updates/resolution.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { imageName, nextLink, RegistryClient, RegistryError } from '../../agent/image-updates/registry.js';
import { newestMatching } from '../../agent/image-updates/select.js';
import { ImageUpdates } from '../../agent/image-updates/index.js';
import { ImageUpdateStore, type ImageUpdateRow } from '../../agent/image-updates/store.js';
import { systemClock } from '../../agent/clock.js';
import { openDb } from '../../agent/state/db.js';
import { loadDesiredState, validateDir } from '../../agent/load/index.js';
import type { ImageUpdatePolicy, Service } from '../../agent/model.js';
import { eventsForOutcome } from '../../agent/notify/from-outcome.js';
import { memoryFiles } from '../helpers/memory-files.js';

const ROOT = '/capstan-image-updates';
const COMMIT = 'c'.repeat(40);
const hashKey = new TextEncoder().encode('image-updates-test');

describe('version selection (semver policies)', () => {
  const tags = ['latest', '2.3.1', '2.4.0', '3.0.0', '2.5', 'alpine', '2.4.1-rc.1', 'v2.4.0', '1.25.3', '1.25.10', '1.26.0', '2.4.0-alpine', 'sha-abc123'];
  const cases: [string, boolean, string | undefined][] = [
    ['^2', false, '2.4.0'],
    ['^2.3', false, '2.4.0'],
    ['~2.3', false, '2.3.1'],
    ['~1.25', false, '1.25.10'],
    ['>=1.2 <2', false, '1.26.0'],
    ['^4', false, undefined],
    // Pre-releases only when asked: 2.4.1-rc.1 is above 2.4.0; `2.4.0-alpine` is a pre-release of 2.4.0, below it.
    ['^2', true, '2.4.1-rc.1'],
    ['>=3', false, '3.0.0'],
  ];
  for (const [range, prereleases, expected] of cases) {
    it(`${range}${prereleases ? ' with pre-releases' : ''} → ${expected ?? 'none'}`, () => {
      assert.equal(newestMatching(tags, { range, prereleases }), expected);
    });
  }

  it('ignores tags that are not semver versions, and prefers `2.4.0` to `v2.4.0`', () => {
    assert.equal(newestMatching(['latest', '2.5', 'stable', 'v2.4.0', '2.4.0'], { range: '^2', prereleases: false }), '2.4.0');
    assert.equal(newestMatching(['v2.4.0'], { range: '^2', prereleases: false }), 'v2.4.0');
    assert.equal(newestMatching(['latest', '2.5', 'x'.repeat(200)], { range: '*', prereleases: false }), undefined);
  });

  it('skips quarantined tags, choosing the next version that satisfies the range', () => {
    assert.equal(newestMatching(['2.3.1', '2.3.5', '2.4.0'], { range: '^2', prereleases: false }, new Set(['2.4.0'])), '2.3.5');
  });
});

function service(image: string, policy: ImageUpdatePolicy): Service {
  return { app: 'shop', name: 'web', image, environment: {}, ports: [], mounts: [], restart: 'always', labels: {}, replicas: 1, configHash: 'h', source: { file: 'shop.yaml', line: 1 }, imageUpdate: policy };
}

function row(fields: Partial<ImageUpdateRow>): ImageUpdateRow {
  return {
    app: 'shop', service: 'web', image: 'reg/app:2.3.1', policy: 'semver ^2', mode: 'deploy', checkedAt: '2026-12-05T10:00:00.000Z', nextCheckAt: null, checkError: null,
    availableTag: null, availableDigest: null, deployedTag: null, deployedDigest: null, pinned: false, notified: null, ...fields,
  };
}

const SEMVER: ImageUpdatePolicy = { follow: { kind: 'semver', range: '^2', prereleases: false }, mode: 'deploy' };
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

describe('what a record resolves to', () => {
  it('rolls out an update found, only with candidates, and says so', () => {
    const record = row({ availableTag: '2.4.0', availableDigest: D2 });
    const rolling = decide(service('reg/app:2.3.1', SEMVER), SEMVER, record, () => false, true);
    assert.equal(rolling.rollingOut, true);
    assert.equal(describeResolution({ ...rolling, rollingOut: false }), 'running 2.3.1, 2.4.0 available (semver ^2, deploy)');
    assert.equal(decide(service('reg/app:2.3.1', SEMVER), SEMVER, record, () => false, false).rollingOut, false);
  });

  it('never rolls out a quarantined digest, nor in notify mode', () => {
    const record = row({ availableTag: '2.4.0', availableDigest: D2, deployedTag: '2.3.1', deployedDigest: D1, pinned: true });
    const quarantined = decide(service('reg/app:2.3.1', SEMVER), SEMVER, record, (digest) => digest === D2, true);
    assert.equal(quarantined.rollingOut, false);
    assert.match(describeResolution(quarantined), /running 2\.3\.1, 2\.4\.0 quarantined/);
    const notify = { ...SEMVER, mode: 'notify' as const };
    assert.equal(decide(service('reg/app:2.3.1', notify), notify, { ...record, mode: 'notify' }, () => false, true).rollingOut, false);
  });

  it('forgets a record of another image or policy (the manifest changed it)', () => {
    const record = row({ image: 'reg/app:2.3.0', availableTag: '2.4.0', availableDigest: D2, deployedTag: '2.3.1', deployedDigest: D1, pinned: true });
    const resolution = decide(service('reg/app:2.3.1', SEMVER), SEMVER, record, () => false, true);
    assert.equal(resolution.running, null);
    assert.equal(resolution.available, null);
    assert.equal(resolution.rollingOut, false);
  });

  it('has nothing available when the registry serves what runs', () => {
    const record = row({ availableTag: '2.3.1', availableDigest: D1, deployedTag: '2.3.1', deployedDigest: D1 });
    assert.equal(decide(service('reg/app:2.3.1', SEMVER), SEMVER, record, () => false, true).available, null);
  });
});

describe('the registry client', () => {
  it('names the API of an image as Docker does', () => {
    assert.deepEqual(imageName('nginx'), { host: 'docker.io', repository: 'library/nginx', tag: 'latest', base: 'https://registry-1.docker.io' });
    assert.deepEqual(imageName('ghcr.io/owner/app:2.3'), { host: 'ghcr.io', repository: 'owner/app', tag: '2.3', base: 'https://ghcr.io' });
    assert.deepEqual(imageName('127.0.0.1:5000/app:1'), { host: '127.0.0.1:5000', repository: 'app', tag: '1', base: 'http://127.0.0.1:5000' });
    assert.deepEqual(imageName('owner/app:1'), { host: 'docker.io', repository: 'owner/app', tag: '1', base: 'https://registry-1.docker.io' });
  });

  it('follows the Link header to the next page of tags', () => {
    assert.equal(nextLink('</v2/app/tags/list?last=b&n=2>; rel="next"', 'http://127.0.0.1:5000/v2/app/tags/list?n=2'), 'http://127.0.0.1:5000/v2/app/tags/list?last=b&n=2');
    assert.equal(nextLink(null, 'http://h/v2/app/tags/list'), undefined);
    assert.equal(nextLink('<https://h/other>; rel="prev"', 'http://h/v2/app/tags/list'), undefined);
  });
});

describe('the desired state a record resolves to', () => {
  it('creates the manifest\'s tag from the digest it was found to be, under the tag\'s own config hash', async () => {
    const manifest = 'app: shop\nservices:\n  web:\n    image: reg.example/app:1\n    update: { image: digest }\n';
    const desired = await loadDesiredState({ root: ROOT, commit: COMMIT, hashKey, files: memoryFiles(ROOT, { 'shop.yaml': manifest }) });
    const db = openDb(':memory:');
    try {
      const store = new ImageUpdateStore(db, 'node-a');
      const updates = new ImageUpdates({ store, fetch, clock: systemClock, hashKey, defaultIntervalMs: 3_600_000, readDockerConfig: async () => undefined, localDigests: async () => [] });
      const web = () => updates.resolve(desired, { candidates: true }).desired.apps[0].services[0];
      const base = { app: 'shop', service: 'web', image: 'reg.example/app:1', policy: 'digest', mode: 'deploy' as const, checkedAt: '2026-12-05T10:00:00.000Z', nextCheckAt: null, checkError: null };
      store.recordCheck({ ...base, availableTag: '1', availableDigest: D1 });
      store.recordBaseline('shop', 'web', { tag: '1', digest: D1 });
      // A rollback or a recreated replica runs the digest that ran, whatever the tag means later.
      assert.equal(web().image, `reg.example/app@${D1}`);
      assert.equal(web().configHash, desired.apps[0].services[0].configHash, 'replicas created from the tag are not replaced for it');
      // An update rolled out is a change: its own image and hash.
      store.recordCheck({ ...base, availableTag: '1', availableDigest: D2 });
      assert.equal(web().image, `reg.example/app@${D2}`);
      assert.notEqual(web().configHash, desired.apps[0].services[0].configHash);
      assert.equal(updates.resolve(desired, { candidates: false }).desired.apps[0].services[0].image, `reg.example/app@${D1}`);
    } finally {
      db.close();
    }
  });
});

describe('update.image in manifests', () => {
  const load = async (files: Record<string, string>) => validateDir({ root: ROOT, commit: COMMIT, hashKey, files: memoryFiles(ROOT, files) });

  it('is read into the service, and is not part of the config hash', async () => {
    const plain = 'app: shop\nservices:\n  web:\n    image: reg.example/app:2.3.1\n';
    const withPolicy = 'app: shop\nservices:\n  web:\n    image: reg.example/app:2.3.1\n    update:\n      image: {semver: "^2.3", prereleases: true}\n      mode: notify\n      interval: 30m\n';
    const before = await loadDesiredState({ root: ROOT, commit: COMMIT, hashKey, files: memoryFiles(ROOT, { 'shop.yaml': plain }) });
    const after = await loadDesiredState({ root: ROOT, commit: COMMIT, hashKey, files: memoryFiles(ROOT, { 'shop.yaml': withPolicy }) });
    const web = after.apps[0].services[0];
    assert.deepEqual(web.imageUpdate, { follow: { kind: 'semver', range: '^2.3', prereleases: true }, mode: 'notify', intervalMs: 1_800_000 });
    assert.equal(web.configHash, before.apps[0].services[0].configHash);
  });

  it('refuses a bad range, a half-written policy, a built or digest-pinned image, naming file, line and key', async () => {
    const result = await load({
      'a.yaml': 'app: a\nservices:\n  web:\n    image: reg.example/app:1\n    update:\n      image: {semver: "not a range"}\n',
      'b.yaml': 'app: b\nservices:\n  web:\n    image: reg.example/app:1\n    update:\n      mode: notify\n',
      'c.yaml': 'app: c\nservices:\n  web:\n    image: reg.example/app@sha256:' + '1'.repeat(64) + '\n    update:\n      image: digest\n',
      'd.yaml': 'app: d\nservices:\n  web:\n    image: reg.example/app:1\n    update:\n      image: newest\n',
      'e.yaml': 'app: e\nservices:\n  web:\n    image: reg.example/app:1\n    update:\n      image: digest\n      interval: 10ms\n',
    });
    const problems = result.problems.map(formatProblem).join('\n');
    assert.match(problems, /a\.yaml:6:\d+: services\.web\.update\.image\.semver: 'not a range' is not a semver range.*\[IMAGE_UPDATE_INVALID\]/);
    assert.match(problems, /b\.yaml:6:\d+: services\.web\.update\.mode: mode applies to image updates/);
    assert.match(problems, /c\.yaml:6:\d+: services\.web\.update\.image: image .* is pinned by digest/);
    assert.match(problems, /d\.yaml:6:\d+: services\.web\.update\.image/);
    assert.match(problems, /e\.yaml:7:\d+: services\.web\.update\.interval: interval 10ms is shorter than 1s/);
  });

  it('comes from x-capstan in a Compose file', async () => {
    const compose = 'services:\n  web:\n    image: reg.example/app:1\n    x-capstan:\n      update:\n        image: digest\n        interval: 1h\n';
    const state = await loadDesiredState({ root: ROOT, commit: COMMIT, hashKey, files: memoryFiles(ROOT, { 'shop/compose.yaml': compose }) });
    assert.deepEqual(state.apps[0].services[0].imageUpdate, { follow: { kind: 'digest' }, mode: 'deploy', intervalMs: 3_600_000 });
  });
});

describe('the registry client against an HTTP server', () => {
  // A small Distribution API on 127.0.0.1: a Bearer challenge, two pages of tags, a 429.
  const start = async (handler: (request: IncomingMessage, response: ServerResponse, base: string) => void) => {
    const server = createServer((request, response) => handler(request, response, `http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { host, close: () => new Promise((resolve) => server.close(resolve)) };
  };
  const deps = { fetch: globalThis.fetch, now: () => Date.now() };
  const DIGEST = `sha256:${'a'.repeat(64)}`;

  it('answers a Bearer challenge with the pull credentials, follows Link pages, reads the digest header', async () => {
    const seen: string[] = [];
    const server = await start((request, response, base) => {
      const url = new URL(request.url!, base);
      seen.push(`${request.method} ${url.pathname}${url.search}`);
      if (url.pathname === '/token') {
        const basic = `Basic ${Buffer.from('robot:s3cret-password').toString('base64')}`;
        response.writeHead(request.headers.authorization === basic ? 200 : 401, { 'content-type': 'application/json' });
        return response.end(JSON.stringify({ token: 'tok-1' }));
      }
      if (request.headers.authorization !== 'Bearer tok-1') {
        response.writeHead(401, { 'www-authenticate': `Bearer realm="${base}/token",service="test",scope="repository:team/app:pull"` });
        return response.end();
      }
      if (url.pathname === '/v2/team/app/tags/list' && !url.searchParams.has('last')) {
        response.writeHead(200, { link: '</v2/team/app/tags/list?n=2&last=2.3.1>; rel="next"', 'content-type': 'application/json' });
        return response.end(JSON.stringify({ name: 'team/app', tags: ['latest', '2.3.1'] }));
      }
      if (url.pathname === '/v2/team/app/tags/list') {
        response.writeHead(200, { 'content-type': 'application/json' });
        return response.end(JSON.stringify({ name: 'team/app', tags: ['2.4.0', '3.0.0'] }));
      }
      response.writeHead(200, { 'docker-content-digest': DIGEST });
      response.end();
    });
    try {
      const client = new RegistryClient(imageName(`${server.host}/team/app:2.3.1`), { username: 'robot', password: 's3cret-password', serveraddress: server.host }, deps);
      assert.deepEqual(await client.tags(), ['latest', '2.3.1', '2.4.0', '3.0.0']);
      assert.equal(await client.digest('2.4.0'), DIGEST);
      assert.ok(seen.includes('HEAD /v2/team/app/manifests/2.4.0'));
      assert.ok(!seen.some((line) => line.startsWith('GET /v2/team/app/manifests')), 'nothing is pulled, not even a manifest');
    } finally {
      await server.close();
    }
  });

  it('ends a check on 429 with the Retry-After, and names no credential in its errors', async () => {
    const server = await start((request, response) => {
      if (request.url!.includes('/manifests/')) {
        response.writeHead(429, { 'retry-after': '120' });
        return response.end();
      }
      response.writeHead(401, { 'www-authenticate': 'Basic realm="x"' });
      response.end();
    });
    try {
      const client = new RegistryClient(imageName(`${server.host}/app:1`), { username: 'robot', password: 's3cret-password', serveraddress: server.host }, deps);
      await assert.rejects(client.digest('1'), (error: RegistryError) => error.retryAfterMs === 120_000 && /rate limited/.test(error.message));
      const error = await client.tags().catch((caught: Error) => caught);
      assert.match(String(error), /access denied/);
      assert.doesNotMatch(String(error), /s3cret|robot/);
    } finally {
      await server.close();
    }
  });
});

describe('notifications of image updates', () => {
  it('says each update found in notify mode once, naming the service', () => {
    const update = { app: 'shop', service: 'web', image: 'reg/app:2.3.1', policy: 'semver ^2', running: null, available: { tag: '2.4.0', digest: D2 } };
    const events = eventsForOutcome({ result: 'in-sync', commit: 'c'.repeat(40), rollouts: [], rollbacks: [], imageUpdates: [update] }, { node: 'n1', previous: null, consecutiveFailures: 0 });
    assert.deepEqual(events.map((event) => [event.kind, event.app, event.service]), [['image-update-available', 'shop', 'web']]);
    assert.match(events[0].message, /running reg\/app:2\.3\.1, 2\.4\.0 \(sha256:2+\) available/);
  });
});
