import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isIgnored, parseDockerignore } from '../../agent/load/files/build-context.js';
import { byteSize } from '../../agent/spelling.js';
import type { DesiredState, Service } from '../../agent/model.js';
import { encryptEnv, newKeyringKey, type Keyring } from '../../secrets/index.js';
import { loadFiles, loadProblems } from '../helpers/model.js';

// Issue 5 in the loader: the service fields for networks, storage, resources, order, sidecars and
// builds, as tables of manifests that load (and what they load to) and of those that do not
// (and the problem each gives, at its file, line and key).

const COMMIT = 'c'.repeat(40);
const hashKey = new TextEncoder().encode('load-spec-test-key');
const key = newKeyringKey(Date.now());
const keyring: Keyring = { source: 'test.keys', keys: [key], primary: key };

const load = (files: Record<string, string>) => loadFiles(files, { commit: COMMIT, hashKey, keyring });
const problems = (files: Record<string, string>) => loadProblems(files, { commit: COMMIT, hashKey, keyring });

function serviceOf(state: DesiredState, app: string, name: string): Service {
  const service = state.apps.find((candidate) => candidate.name === app)?.services.find((candidate) => candidate.name === name);
  assert.ok(service, `${app}/${name} loaded`);
  return service;
}

const SLEEP = '    image: local/busybox:1\n';

describe('load: the service spec fields', () => {
  it('normalizes every field, leaving out what the manifest does not set', async () => {
    const state = await load({
      'db.yaml': `app: db\nservices:\n  postgres:\n${SLEEP}  admin:\n${SLEEP}`,
      'shop.yaml': `app: shop
uses: [db]
volumes:
  data: { shared: true }
  old: { remove: true }
services:
  web:
    image: local/busybox:1
    uses: [db/postgres, db]
    depends_on: [migrate]
    resources: { cpus: "1.5", memory: 512m, memory_reservation: 1g, pids_limit: 100, shm_size: 65536 }
    ulimits: { nproc: 512, nofile: { soft: 1024, hard: 4096 } }
    user: "1000"
    read_only: true
    tmpfs: ["/tmp", "/run:size=64m,mode=1777"]
    cap_add: [net_bind_service, CAP_CHOWN]
    cap_drop: [ALL]
    init: true
    stop_signal: SIGQUIT
    stop_grace_period: 1m30s
    runtime: runc
    volumes: ["data:/data"]
  worker:
    image: local/busybox:1
    egress: false
    volumes: ["data:/data"]
    depends_on:
      migrate: { condition: service_completed_successfully }
  migrate:
    image: local/busybox:1
    restart: "no"
  proxy:
    image: local/busybox:1
    network_mode: service:web
`,
    });
    const web = serviceOf(state, 'shop', 'web');
    assert.deepEqual(web.uses, [{ app: 'db' }, { app: 'db', service: 'postgres' }], 'app and service grants merged, deduplicated, sorted');
    assert.deepEqual(web.dependsOn, [{ service: 'migrate', condition: 'service_started' }]);
    assert.deepEqual(web.resources, { nanoCpus: 1_500_000_000, memoryBytes: 536_870_912, memoryReservationBytes: 1_073_741_824, pidsLimit: 100, shmSizeBytes: 65_536 });
    assert.deepEqual(web.ulimits, [
      { name: 'nofile', soft: 1024, hard: 4096 },
      { name: 'nproc', soft: 512, hard: 512 },
    ]);
    assert.deepEqual(
      [web.user, web.readOnly, web.tmpfs, web.capAdd, web.capDrop, web.init, web.stopSignal, web.stopGracePeriodMs, web.runtime],
      ['1000', true, { '/run': 'size=64m,mode=1777', '/tmp': '' }, ['CHOWN', 'NET_BIND_SERVICE'], ['ALL'], true, 'SIGQUIT', 90_000, 'runc'],
    );
    const worker = serviceOf(state, 'shop', 'worker');
    assert.equal(worker.egress, false);
    assert.deepEqual(worker.dependsOn, [{ service: 'migrate', condition: 'service_completed_successfully' }]);
    assert.deepEqual(worker.uses, [{ app: 'db' }]);
    const proxy = serviceOf(state, 'shop', 'proxy');
    assert.deepEqual(proxy.networkMode, { kind: 'service', service: 'web' });
    assert.equal(proxy.uses, undefined, 'app-level grants skip sidecars, which join no network');
    assert.deepEqual(state.apps.find((app) => app.name === 'shop')!.volumes.map((volume) => [volume.name, volume.shared, volume.remove]), [
      ['data', true, undefined],
      ['old', undefined, true],
    ]);
    const plain = serviceOf(state, 'db', 'admin');
    for (const field of ['uses', 'egress', 'networkMode', 'dependsOn', 'resources', 'ulimits', 'user', 'readOnly', 'tmpfs', 'capAdd', 'runtime', 'build'] as const) {
      assert.equal(field in plain, false, `${field} is left out when not set`);
    }
  });

  it('byte sizes as Compose writes them', () => {
    const table: [number | string, number][] = [
      [1024, 1024],
      ['1024', 1024],
      ['64k', 65_536],
      ['512m', 536_870_912],
      ['512M', 536_870_912],
      ['1g', 1_073_741_824],
      ['1.5g', 1_610_612_736],
      ['1gb', 1_073_741_824],
      ['2GiB', 2_147_483_648],
      ['10b', 10],
    ];
    for (const [text, bytes] of table) assert.equal(byteSize(text), bytes, String(text));
  });

  it('the config hash: grants and order change nothing that runs, egress and the parent of a sidecar do', async () => {
    const manifest = (web: string, proxy = '') =>
      `app: shop\nservices:\n  web:\n${SLEEP}${web}  proxy:\n${SLEEP}    network_mode: service:web\n${proxy}  other:\n${SLEEP}`;
    const db = { 'db.yaml': `app: db\nservices:\n  pg:\n${SLEEP}` };
    const hashes = async (web: string) => {
      const state = await load({ ...db, 'shop.yaml': manifest(web) });
      return Object.fromEntries(state.apps.find((app) => app.name === 'shop')!.services.map((service) => [service.name, service.configHash]));
    };
    const base = await hashes('');
    assert.deepEqual(await hashes('    uses: [db/pg]\n'), base, 'a grant is joined live');
    assert.deepEqual(await hashes('    depends_on: [other]\n'), base, 'depends_on only orders creation');
    const egress = await hashes('    egress: false\n');
    assert.notEqual(egress.web, base.web);
    assert.notEqual(egress.proxy, base.proxy, 'a sidecar follows its parent');
    assert.equal(egress.other, base.other);
  });

  it('a build is tagged by its context: a change of an ignored file changes nothing, of a sent file the tag and hash', async () => {
    const files = (index: string, notes: string) => ({
      'apps/site.yaml': 'app: site\nservices:\n  web:\n    build: { context: ../site, args: { MODE: prod } }\n',
      'site/Dockerfile': 'FROM local/busybox:1\nCOPY . /srv\n',
      'site/.dockerignore': '# notes stay out\nnotes/\n!notes/keep.txt\n',
      'site/index.html': index,
      'site/notes/todo.txt': notes,
      'site/notes/keep.txt': 'kept\n',
    });
    const web = async (index: string, notes: string) => serviceOf(await load(files(index, notes)), 'site', 'web');
    const first = await web('v1', 'a');
    assert.match(first.image, /^capstan\/site-web:[0-9a-f]{24}$/);
    assert.deepEqual(
      { ...first.build, context: undefined, contextDigest: undefined },
      { context: undefined, contextDigest: undefined, contextPath: 'site', dockerfile: 'Dockerfile', args: { MODE: 'prod' } },
    );
    assert.equal((await web('v1', 'b')).image, first.image, 'notes/ is ignored');
    const changed = await web('v2', 'a');
    assert.notEqual(changed.image, first.image);
    assert.notEqual(changed.configHash, first.configHash);
  });

  it('.dockerignore rules: segments, **, negation, parent folders', () => {
    const rules = parseDockerignore('# comment\n*.log\n/build\n**/tmp\n!build/keep\ndocs/*.md\n');
    const table: [string, boolean][] = [
      ['app.log', true],
      ['src/app.log', false],
      ['build', true],
      ['build/out.bin', true],
      ['build/keep', false],
      ['a/b/tmp/x', true],
      ['tmp', true],
      ['docs/readme.md', true],
      ['docs/sub/readme.md', false],
      ['src/main.go', false],
    ];
    for (const [path, ignored] of table) assert.equal(isIgnored(path, rules), ignored, path);
  });

  it('registry credentials come from capstan.env, in pairs', async () => {
    const envFile = encryptEnv({ values: { REGISTRY_GHCR_IO_USERNAME: 'me', REGISTRY_GHCR_IO_PASSWORD: 'S3NT1NEL', OTHER: 'x' }, repoPath: 'capstan.env', keyring });
    const state = await load({ 'capstan.env': envFile, 'shop.yaml': `app: shop\nservices:\n  web:\n${SLEEP}` });
    assert.deepEqual(state.registries, [{ key: 'GHCR_IO', username: 'me', password: 'S3NT1NEL' }]);
    const half = encryptEnv({ values: { REGISTRY_GHCR_IO_USERNAME: 'me' }, repoPath: 'capstan.env', keyring });
    assert.deepEqual(await problems({ 'capstan.env': half, 'shop.yaml': `app: shop\nservices:\n  web:\n${SLEEP}` }), [
      'capstan.env: REGISTRY_GHCR_IO_PASSWORD: registry credentials need both variables: REGISTRY_GHCR_IO_PASSWORD is missing [REGISTRY_CREDENTIALS_INCOMPLETE]',
    ]);
  });
});

describe('load: service spec problems, each at its file, line and key', () => {
  const table: { name: string; files: Record<string, string>; expected: string[] }[] = [
    {
      name: 'neither image nor build, both, and a build outside the checkout',
      files: {
        'a.yaml': 'app: a\nservices:\n  none: {}\n  both:\n    image: x\n    build: .\n  away:\n    build: ../../elsewhere\n',
        Dockerfile: 'FROM scratch\n',
      },
      expected: [
        'a.yaml:3:3: services.none: a service needs image: (to pull) or build: (to build from the repository) [IMAGE_MISSING]',
        'a.yaml:5:12: services.both.image: a built image is tagged capstan/<app>-<service>:<digest>; leave image out when the service has build [IMAGE_AND_BUILD]',
        'a.yaml:8:12: services.away.build: the build context leaves the checkout; build from a folder of the repository [BUILD_OUTSIDE_CHECKOUT]',
      ],
    },
    {
      name: 'a build context without its Dockerfile',
      files: { 'a.yaml': 'app: a\nservices:\n  web:\n    build: { context: site, dockerfile: web.Dockerfile }\n', 'site/index.html': 'x' },
      expected: ['a.yaml:4:41: services.web.build.dockerfile: there is no web.Dockerfile in the build context [BUILD_NOT_FOUND]'],
    },
    {
      name: 'grants of apps and services that do not exist, of its own app, of a sidecar',
      files: {
        'a.yaml': `app: a\nuses: [dbx]\nservices:\n  web:\n${SLEEP}    uses: [db/nope, a, db/side]\n`,
        'db.yaml': `app: db\nservices:\n  pg:\n${SLEEP}  side:\n${SLEEP}    network_mode: service:pg\n`,
      },
      expected: [
        "a.yaml:2:8: uses[0]: there is no app 'dbx' in the manifests (did you mean 'db'?); uses names an app or app/service [GRANT_UNKNOWN]",
        "a.yaml:6:12: services.web.uses[0]: app 'db' has no service 'nope' (it has pg, side) [GRANT_UNKNOWN]",
        "a.yaml:6:21: services.web.uses[1]: services of app 'a' reach each other already; uses names other apps [GRANT_UNKNOWN]",
        "a.yaml:6:24: services.web.uses[2]: service 'db/side' has network_mode: service, so it joins no network to be reached on; grant its parent or the whole app [GRANT_UNKNOWN]",
      ],
    },
    {
      name: 'two writers of a single-writer volume, replicas of one, a removed volume still mounted',
      files: {
        'a.yaml': `app: a
volumes: { data: {}, gone: { remove: true }, logs: { shared: true } }
services:
  one:
${SLEEP}    volumes: ["data:/data", "logs:/logs"]
  two:
${SLEEP}    volumes: ["data:/data", "gone:/gone", "logs:/logs"]
  three:
${SLEEP}    replicas: 2
    volumes: ["data:/data:ro", "logs:/logs"]
  four:
${SLEEP}    replicas: 2
    volumes: [{ type: volume, source: data, target: /data }]
`,
      },
      expected: [
        "a.yaml:9:15: services.two.volumes[0]: volume 'data' is single-writer and service 'one' already mounts it read-write at services.one.volumes[0] (line 6); declare it shared (volumes: {data: {shared: true}}) if the software supports several writers, or mount it read-only (:ro) [VOLUME_SINGLE_WRITER]",
        "a.yaml:9:29: services.two.volumes[1]: volume 'gone' is marked remove: true, so no service may mount it; drop this mount or the remove setting [VOLUME_REMOVED]",
        "a.yaml:17:15: services.four.volumes[0]: service 'four' has 2 replicas, and each would mount the single-writer volume 'data' read-write; declare it shared (volumes: {data: {shared: true}}) if the software supports several writers, or mount it read-only (:ro) [VOLUME_SINGLE_WRITER]",
        "a.yaml:17:15: services.four.volumes[0]: volume 'data' is single-writer and service 'one' already mounts it read-write at services.one.volumes[0] (line 6); declare it shared (volumes: {data: {shared: true}}) if the software supports several writers, or mount it read-only (:ro) [VOLUME_SINGLE_WRITER]",
      ],
    },
    {
      name: 'depends_on: unknown services, conditions the target cannot meet, cycles',
      files: {
        'a.yaml': `app: a
services:
  web:
${SLEEP}    depends_on: [nope, db]
  db:
${SLEEP}    depends_on:
      web: { condition: service_healthy }
  job:
${SLEEP}    depends_on:
      db: { condition: service_completed_successfully }
`,
      },
      expected: [
        "a.yaml:5:17: services.web.depends_on: there is no service 'nope' in app 'a' [DEPENDENCY_UNKNOWN]",
        "a.yaml:9:7: services.db.depends_on: service_healthy needs a healthcheck on 'web', which has none [DEPENDENCY_CONDITION]",
        'a.yaml:9:7: services.db.depends_on: depends_on forms a cycle: db → web → db [DEPENDENCY_CYCLE]',
        "a.yaml:13:7: services.job.depends_on: service_completed_successfully needs 'db' to be a one-shot (restart: no or on-failure); it would never complete [DEPENDENCY_CONDITION]",
      ],
    },
    {
      name: 'sidecars: no own ports, egress or grants, the parent\'s replicas, a parent that exists and is on the networks',
      files: {
        'db.yaml': `app: db\nservices:\n  pg:\n${SLEEP}`,
        'a.yaml': `app: a
services:
  web:
${SLEEP}    replicas: 2
  side:
${SLEEP}    network_mode: service:web
    ports: ["8080"]
    egress: false
    uses: [db]
    replicas: 3
  orphan:
${SLEEP}    network_mode: service:ghost
  hosted:
${SLEEP}    network_mode: none
    ports: ["80"]
  chained:
${SLEEP}    network_mode: service:hosted
`,
      },
      expected: [
        "a.yaml:9:12: services.side.ports: a sidecar shares the network of 'web': publish its ports there [SIDECAR_NETWORK]",
        "a.yaml:10:13: services.side.egress: a sidecar shares the network of 'web': set egress there [SIDECAR_NETWORK]",
        "a.yaml:11:11: services.side.uses: a sidecar shares the network of 'web': grant access there [SIDECAR_NETWORK]",
        "a.yaml:12:15: services.side.replicas: a sidecar runs one container per replica of 'web' (2); leave replicas out [SIDECAR_REPLICAS]",
        "a.yaml:15:19: services.orphan.network_mode: there is no service 'ghost' in app 'a' to share the network of [SIDECAR_PARENT_UNKNOWN]",
        'a.yaml:19:12: services.hosted.ports: with network_mode: none nothing can be published (it has no network); remove ports [PORTS_WITHOUT_NETWORK]',
        "a.yaml:22:19: services.chained.network_mode: service 'hosted' has a network_mode of its own; a sidecar's parent must be on the app's networks [SIDECAR_CHAIN]",
      ],
    },
    {
      name: 'egress: false with ports; read_only with secret files; soft above hard limits',
      files: {
        'a.yaml': `app: a
services:
  web:
${SLEEP}    egress: false
    ports: ["8080"]
    read_only: true
    secrets: { /run/secrets/x: "value" }
    ulimits: { nofile: { soft: 10, hard: 5 } }
`,
      },
      expected: [
        'a.yaml:6:12: services.web.ports: a service with egress: false is on internal networks only, which Docker cannot publish ports from; remove ports or egress: false [PORTS_WITHOUT_EGRESS]',
        "a.yaml:7:16: services.web.read_only: secret files are written into the container's file system before it starts, which read_only: true forbids; drop read_only, or pass the values in environment [SECRETS_READ_ONLY]",
        'a.yaml:9:24: services.web.ulimits.nofile: the soft limit cannot exceed the hard limit [ULIMIT_INVALID]',
      ],
    },
    {
      name: 'values the schema refuses, with messages that say what is expected',
      files: {
        'a.yaml': `app: a
services:
  web:
${SLEEP}    network_mode: bridge
    resources: { cpus: lots, memory: 12 parsecs }
    uses: [Db]
    cap_add: ["net-admin"]
    devices: ["dev/ttyUSB0"]
`,
      },
      expected: [
        'a.yaml:5:19: services.web.network_mode: must be host, none or service:<name of a service of this app> [SCHEMA]',
        'a.yaml:6:24: services.web.resources.cpus: must be a number of CPUs such as 0.5 or 2 [SCHEMA]',
        'a.yaml:6:38: services.web.resources.memory: must be a size such as 512m, 1g or 64k (or a number of bytes) [SCHEMA]',
        'a.yaml:7:12: services.web.uses[0]: must name an app (`db`) or one service of it (`db/postgres`) [SCHEMA]',
        'a.yaml:8:15: services.web.cap_add[0]: must be a capability name such as NET_ADMIN [SCHEMA]',
        'a.yaml:9:15: services.web.devices[0]: must be HOST_DEVICE[:CONTAINER_DEVICE][:PERMISSIONS], such as /dev/ttyUSB0:/dev/ttyUSB0:rw, or a CDI device name such as nvidia.com/gpu=all [SCHEMA]',
      ],
    },
  ];
  for (const { name, files, expected } of table) {
    it(name, async () => {
      assert.deepEqual(await problems(files), expected);
    });
  }
});
