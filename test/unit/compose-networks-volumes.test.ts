import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { networkLayout } from '../../agent/targets/networks.js';
import { plan } from '../../agent/targets/containers/plan.js';
import { printPlan } from '../../agent/targets/containers/print.js';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { ManifestProblem } from '../../agent/errors.js';
import { readOtherFile } from '../../agent/load/compose/other-files.js';
import { openCheckout } from '../../agent/load/files/repo-files.js';
import { formatProblem } from '../../agent/errors.js';
import { validateDir } from '../../agent/load/index.js';
import { DEFAULT_POLICY } from '../../agent/policy/index.js';
import { cleanupCheckouts, convertCompose, hashKey, writeCheckout } from './compose-helpers.js';

// Compose fidelity (issue 23): anonymous volumes, external networks, ipam, network_mode:
// service:, extends.file and include, each as a Compose file loads it.

after(cleanupCheckouts);

describe('Compose anonymous volumes', () => {
  it('accepts the short and long syntax, as a volume per replica', async () => {
    const converted = await convertCompose(`
services:
  app:
    image: local/busybox:1
    volumes:
      - ./src:/app
      - /app/node_modules
      - type: volume
        target: /app/cache
`, { 'src/index.js': '' });
    assert.deepEqual(converted.problems, []);
    const mounts = converted.app!.services[0].mounts;
    assert.deepEqual(mounts.filter((mount) => mount.type === 'anonymous'), [
      { type: 'anonymous', target: '/app/node_modules', readOnly: false },
      { type: 'anonymous', target: '/app/cache', readOnly: false },
    ]);
  });

  it('refuses a relative path alone, and a bind without source, naming file, line and key', async () => {
    const converted = await convertCompose(`
services:
  app:
    image: local/busybox:1
    volumes:
      - node_modules
      - type: bind
        target: /x
`);
    assert.equal(converted.problems.length, 2, converted.problems.join('\n'));
    assert.match(converted.problems[0], /^app\/compose\.yaml:6:9: services\.app\.volumes\[0\]: .*absolute container path alone/);
    assert.match(converted.problems[1], /^app\/compose\.yaml:7:9: services\.app\.volumes\[1\]: a bind mount needs a source/);
  });

  it('takes remove_anonymous_volumes from x-capstan', async () => {
    const converted = await convertCompose(`
x-capstan: {remove_anonymous_volumes: true}
services:
  app: {image: local/busybox:1, volumes: [/data]}
`);
    assert.deepEqual(converted.problems, []);
    assert.equal(converted.app!.removeAnonymousVolumes, true);
  });
});

describe('Compose folders the repository lacks, and network_mode: container:', () => {
  it('keeps a relative bind source the repository lacks as a volume of the app, mounted empty, one per path', async () => {
    const converted = await convertCompose(`
services:
  db:
    image: local/busybox:1
    volumes:
      - ./state/db:/var/lib/db
      - ./conf:/etc/app:ro
  backup:
    image: local/busybox:1
    volumes: ["./state/db:/backup:ro"]
`, { 'conf/app.ini': '' });
    assert.deepEqual(converted.problems, []);
    assert.deepEqual(converted.manifest.volumes, { state_db: {} });
    const services = converted.manifest.services as Record<string, { volumes: string[] }>;
    assert.deepEqual(services.db.volumes, ['state_db:/var/lib/db:nocopy', './conf:/etc/app:ro']);
    assert.deepEqual(services.backup.volumes, ['state_db:/backup:ro,nocopy']);
    assert.deepEqual(converted.app!.volumes.map((volume) => volume.dockerName), ['app_state_db']);
    assert.match(converted.notes.join('\n'), /compose\.yaml:6:9: services\.db\.volumes\[0\]: 'state\/db' is not in the repository: Compose creates it on the host.*volume 'state_db'/);
  });

  it('takes network_mode: container: naming a container of the app as service:, and refuses any other', async () => {
    const converted = await convertCompose(`
services:
  vpn:
    image: local/busybox:1
    container_name: my-vpn
  torrent:
    image: local/busybox:1
    network_mode: container:my-vpn
  other:
    image: local/busybox:1
    network_mode: container:app-vpn-1
`);
    assert.deepEqual(converted.problems, []);
    const services = converted.manifest.services as Record<string, { network_mode?: string }>;
    assert.equal(services.torrent.network_mode, 'service:vpn');
    assert.equal(services.other.network_mode, 'service:vpn');
    const foreign = await convertCompose(`
services:
  torrent:
    image: local/busybox:1
    network_mode: container:somebody-else
`);
    assert.match(foreign.problems.join('\n'), /compose\.yaml:5:19: services\.torrent\.network_mode: not supported by Capstan: network_mode: container:/);
  });
});

describe('Compose external networks and ipam', () => {
  it('joins an external network by its name, creates nothing for it, and plans a missing one as a problem naming file, line and key', async () => {
    const converted = await convertCompose(`
services:
  web:
    image: local/busybox:1
    ports: ["8080:80"]
    networks: [proxy, default]
networks:
  proxy:
    external: true
    name: traefik_proxy
`);
    assert.deepEqual(converted.problems, []);
    const layout = networkLayout(converted.state!);
    assert.deepEqual(layout.networks.map((network) => network.name), ['app_default']);
    assert.deepEqual(layout.endpoints('app', 'web').map((endpoint) => endpoint.network), ['app_default', 'traefik_proxy']);
    const base = { node: 'n1', containers: [], networks: [], volumes: [], images: ['local/busybox:1'], runtimes: [] };
    const missing = plan(converted.state!, { ...base, engineNetworks: [{ name: 'bridge', subnets: ['172.17.0.0/16'] }] });
    assert.equal(missing.operations.length, 0);
    assert.deepEqual(missing.problems.map((entry) => entry.code), ['NETWORK_EXTERNAL_MISSING']);
    assert.match(missing.problems[0].message, /^app\/compose\.yaml:9: networks\.proxy\.external: network 'traefik_proxy' does not exist/);
    const present = plan(converted.state!, { ...base, engineNetworks: [{ name: 'traefik_proxy', subnets: [] }] });
    assert.deepEqual(present.problems, []);
    assert.doesNotMatch(printPlan(present), /traefik_proxy/);
  });

  it('never disconnects from nor removes an external network', async () => {
    const converted = await convertCompose(`
services:
  web: {image: local/busybox:1, networks: [proxy]}
networks:
  proxy: {external: true}
`);
    assert.deepEqual(converted.problems, []);
    const observedState = {
      node: 'n1',
      containers: [],
      networks: [],
      volumes: [],
      images: ['local/busybox:1'],
      runtimes: [],
      engineNetworks: [{ name: 'proxy', subnets: [] }],
    };
    const printed = printPlan(plan({ ...converted.state!, apps: [] }, observedState, { allowEmpty: true }));
    assert.doesNotMatch(printed, /proxy/);
  });

  it('refuses name: on default, and an unknown ipam driver', async () => {
    const converted = await convertCompose(`
services:
  web: {image: local/busybox:1, networks: [back]}
networks:
  default:
    name: elsewhere
  back:
    ipam: {driver: dhcp}
`);
    assert.equal(converted.problems.length, 2, converted.problems.join('\n'));
    assert.match(converted.problems[0], /compose\.yaml:6:5: networks\.default\.name: .*named default network/);
    assert.match(converted.problems[1], /compose\.yaml:8:20: networks\.back\.ipam\.driver: .*ipam driver other than default/);
  });

  it('shares a network named by name: creates it unowned when the host lacks it, joins it when it is there, never removes it', async () => {
    const converted = await convertCompose(`
services:
  web: {image: local/busybox:1, networks: [public]}
networks:
  public:
    name: public
`);
    assert.deepEqual(converted.problems, []);
    const layout = networkLayout(converted.state!);
    assert.deepEqual(layout.networks.map((network) => network.name), ['app_default']);
    assert.deepEqual(layout.endpoints('app', 'web').map((endpoint) => endpoint.network), ['public']);
    const base = { node: 'n1', containers: [], networks: [], volumes: [], images: ['local/busybox:1'], runtimes: [] };
    const missing = plan(converted.state!, { ...base, engineNetworks: [{ name: 'bridge', subnets: ['172.17.0.0/16'] }] });
    assert.deepEqual(missing.problems, []);
    const create = missing.operations.find((operation) => operation.kind === 'create-network' && operation.network === 'public');
    assert.ok(create && create.kind === 'create-network' && create.shared === true, printPlan(missing));
    const container = missing.operations.find((operation) => operation.kind === 'create-container');
    assert.ok(container?.after.includes(create.id), 'the container waits for the network');
    const present = plan(converted.state!, { ...base, engineNetworks: [{ name: 'public', subnets: [] }] });
    assert.equal(present.operations.filter((operation) => operation.kind === 'create-network' && operation.network === 'public').length, 0);
    const removed = printPlan(plan({ ...converted.state!, apps: [] }, { ...base, engineNetworks: [{ name: 'public', subnets: [] }] }, { allowEmpty: true }));
    assert.doesNotMatch(removed, /public/);
    const withSettings = await convertCompose(`
services:
  web: {image: local/busybox:1, networks: [public]}
networks:
  public: {name: public, internal: true}
`);
    assert.match(withSettings.problems.join('\n'), /compose\.yaml:5:26: networks\.public\.internal: .*shared/);
  });

  it('creates a network with its subnet and a fixed address, and refuses an overlap with a network of the host', async () => {
    const converted = await convertCompose(`
services:
  dns:
    image: local/busybox:1
    networks:
      back: {ipv4_address: 172.30.5.10}
networks:
  back:
    ipam:
      config:
        - subnet: 172.30.5.0/24
          gateway: 172.30.5.1
`);
    assert.deepEqual(converted.problems, []);
    const base = { node: 'n1', containers: [], networks: [], volumes: [], images: ['local/busybox:1'], runtimes: [] };
    const result = plan(converted.state!, { ...base, engineNetworks: [] });
    const create = result.operations.find((operation) => operation.kind === 'create-network' && operation.network === 'app_back');
    assert.deepEqual(create && 'ipam' in create ? create.ipam : undefined, { subnet: '172.30.5.0/24', gateway: '172.30.5.1', line: 11 });
    assert.equal(networkLayout(converted.state!).endpoints('app', 'dns')[0].ipv4Address, '172.30.5.10');
    const clash = plan(converted.state!, { ...base, engineNetworks: [{ name: 'other', subnets: ['172.30.0.0/16'] }] });
    assert.deepEqual(clash.problems.map((entry) => entry.code), ['IPAM_CONFLICT']);
    assert.match(clash.problems[0].message, /^app\/compose\.yaml:11: networks\.back\.ipam\.config\[0\]\.subnet: subnet 172\.30\.5\.0\/24 overlaps 172\.30\.0\.0\/16 of network 'other'/);
  });

  it('refuses an address outside the subnet', async () => {
    const converted = await convertCompose(`
services:
  dns: {image: local/busybox:1, networks: {back: {ipv4_address: 10.0.0.2}}}
networks:
  back: {ipam: {config: [{subnet: 172.30.5.0/24}]}}
`);
    assert.equal(converted.problems.length, 1);
    assert.match(converted.problems[0], /services\.dns\.networks\.back\.ipv4_address: 10\.0\.0\.2 is not inside the subnet 172\.30\.5\.0\/24/);
  });
});

describe('Compose extends.file and include', () => {
  it('extends a service of another file of the repository, its own extends resolved there', async () => {
    const converted = await convertCompose(
      `
services:
  web:
    extends: {file: common.yaml, service: web}
    environment: {MODE: prod}
`,
      { 'common.yaml': 'services:\n  base: {image: local/busybox:1, environment: {A: "1"}}\n  web: {extends: base, command: ["httpd", "-f"], environment: {MODE: dev}}\n' },
    );
    assert.deepEqual(converted.problems, []);
    const web = converted.app!.services[0];
    assert.equal(web.image, 'local/busybox:1');
    assert.deepEqual(web.command, ['httpd', '-f']);
    assert.deepEqual(web.environment, { A: '1', MODE: 'prod' });
  });

  it('includes files: their services and volumes join the app; a name defined twice is an error', async () => {
    const converted = await convertCompose(
      `
include: [db/compose.db.yaml]
services:
  web: {image: local/busybox:1, depends_on: [db]}
`,
      { 'db/compose.db.yaml': 'services:\n  db: {image: local/busybox:1, volumes: [data:/data]}\nvolumes:\n  data:\n' },
    );
    assert.deepEqual(converted.problems, []);
    assert.deepEqual(converted.app!.services.map((service) => service.name).sort(), ['db', 'web']);
    assert.deepEqual(converted.app!.volumes.map((volume) => volume.dockerName), ['app_data']);

    const twice = await convertCompose('include: [other.yaml]\nservices:\n  web: {image: local/busybox:1}\n', { 'other.yaml': 'services:\n  web: {image: local/busybox:1}\n' });
    assert.equal(twice.problems.length, 1, twice.problems.join('\n'));
    assert.match(twice.problems[0], /^app\/other\.yaml:2:3: services\.web: services\.web is defined in app\/compose\.yaml \(line 3\) too/);
  });

  it('refuses a file outside the repository, naming file, line and key', async () => {
    const outside = await convertCompose('include: [../../etc/passwd]\nservices:\n  web:\n    extends: {file: ../../x.yaml, service: a}\n');
    assert.deepEqual(outside.problems.map((line) => line.replace(/: the file.*/, '')), [
      'app/compose.yaml:1:11: include[0]',
      'app/compose.yaml:4:21: services.web.extends.file',
    ]);
  });

  it('resolves the relative paths of a file of another folder from that folder, as Compose does', async () => {
    const included = await convertCompose('include: [sub/c.yaml]\nservices:\n  web: {image: local/busybox:1}\n', {
      'sub/c.yaml': 'services:\n  x:\n    image: local/busybox:1\n    env_file: [x.env]\n    volumes: [./conf:/conf, "./data:/data"]\nsecrets:\n  token: {file: ./token.txt}\n',
      'sub/conf/x.ini': '',
      'sub/x.env': 'A=1\n',
      'sub/token.txt': 't',
    });
    assert.deepEqual(included.problems, []);
    const services = included.manifest.services as Record<string, { volumes: unknown[]; env_files: string[] }>;
    assert.deepEqual(services.x.volumes, ['./sub/conf:/conf', 'sub_data:/data:nocopy']);
    assert.deepEqual(services.x.env_files, ['./sub/x.env']);
    const extended = await convertCompose('services:\n  web:\n    extends: {file: ../shared/base.yaml, service: base}\n', {
      '../shared/base.yaml': 'services:\n  base:\n    build: {context: ./img}\n    volumes: [./html:/usr/share/html:ro]\n',
      '../shared/img/Dockerfile': 'FROM local/busybox:1\n',
      '../shared/html/index.html': 'hi',
    });
    assert.deepEqual(extended.problems, []);
    const web = (extended.manifest.services as Record<string, { build: { context: string }; volumes: string[] }>).web;
    assert.equal(web.build.context, '../shared/img');
    assert.deepEqual(web.volumes, ['../shared/html:/usr/share/html:ro']);
    const variable = await convertCompose('include: [sub/c.yaml]\nservices:\n  web: {image: local/busybox:1}\n', { 'sub/c.yaml': 'services:\n  x:\n    image: local/busybox:1\n    volumes: ["${DIR:-./conf}:/conf"]\n' });
    assert.match(variable.problems.join('\n'), /^app\/sub\/c\.yaml:4:15: services\.x\.volumes\[0\]: not supported by Capstan: a relative path given by a variable in a Compose file of another folder/);
  });

  it('refuses a symbolic link that leads out of the checkout', async () => {
    const root = await writeCheckout({ 'app/compose.yaml': 'services: {}\n' });
    const outsideDir = await writeCheckout({ 'base.yaml': 'services:\n  a: {image: x}\n' });
    symlinkSync(join(outsideDir, 'base.yaml'), join(root, 'app', 'base.yaml'));
    const problems: ManifestProblem[] = [];
    const read = await readOtherFile(await openCheckout(root), join(root, 'app'), 'base.yaml', { file: 'app/compose.yaml', line: 3, column: 7, key: 'include[0]' }, problems);
    assert.equal(read, undefined);
    assert.equal(problems[0].code, 'COMPOSE_FILE_OUTSIDE');
    assert.match(problems[0].message, /through a symbolic link/);
    assert.deepEqual([problems[0].file, problems[0].line, problems[0].key], ['app/compose.yaml', 3, 'include[0]']);
  });
});

describe('Compose external volumes', () => {
  const EXTERNAL = `
services:
  web:
    image: local/busybox:1
    volumes: [data:/data, old:/old, Media:/media]
volumes:
  data:
    external: true
    name: portainer_data
  old:
    external:
      name: legacy_data
  Media:
    external: true
`;
  const ALLOWED = { ...DEFAULT_POLICY, allowedVolumeNames: ['portainer_data', 'legacy_data', 'Media'] };
  const base = { node: 'n1', containers: [], networks: [], volumes: [], images: ['local/busybox:1'], runtimes: [] };

  it('mounts the existing volume by name (name:, the older external.name, else the key as Compose names it), never creating it', async () => {
    const converted = await convertCompose(EXTERNAL, {}, { policy: ALLOWED });
    assert.deepEqual(converted.problems, []);
    const volumes = converted.app!.volumes.map((volume) => [volume.name, volume.dockerName, volume.external?.line]);
    assert.deepEqual(volumes, [['data', 'portainer_data', 8], ['media', 'Media', 14], ['old', 'legacy_data', 11]]);
    const present = plan(converted.state!, { ...base, engineVolumes: ['Media', 'legacy_data', 'portainer_data'], foreign: { containers: [], networks: [], volumes: ['Media', 'legacy_data', 'portainer_data'] } });
    assert.deepEqual(present.problems, []);
    assert.equal(present.operations.filter((operation) => operation.kind === 'create-volume').length, 0, printPlan(present));
    const create = present.operations.find((operation) => operation.kind === 'create-container');
    assert.ok(create);
  });

  it('a missing one stops the plan, naming file, line and key, and nothing is created', async () => {
    const converted = await convertCompose(EXTERNAL, {}, { policy: ALLOWED });
    const missing = plan(converted.state!, { ...base, engineVolumes: ['portainer_data'] });
    assert.equal(missing.operations.length, 0);
    assert.deepEqual(missing.problems.map((entry) => entry.code), ['VOLUME_EXTERNAL_MISSING', 'VOLUME_EXTERNAL_MISSING']);
    assert.match(missing.problems[0].message, /^app\/compose\.yaml:14: volumes\.media\.external: volume 'Media' does not exist on this host; Capstan never creates an external volume/);
    assert.match(missing.problems[1].message, /^app\/compose\.yaml:11: volumes\.old\.external: volume 'legacy_data' does not exist/);
  });

  it('is never removed, not when its app goes nor with the app\'s anonymous volumes', async () => {
    const converted = await convertCompose(EXTERNAL, {}, { policy: ALLOWED });
    const removed = plan({ ...converted.state!, apps: [] }, { ...base, engineVolumes: ['Media', 'legacy_data', 'portainer_data'] }, { allowEmpty: true });
    assert.deepEqual(removed.operations, []);
  });

  it('is refused by host policy unless allowed_volume_names lists it, with the policy line to copy', async () => {
    const converted = await convertCompose(EXTERNAL);
    const refusals = converted.problems.filter((text) => text.includes('[POLICY_REFUSED]'));
    assert.equal(refusals.length, 3, converted.problems.join('\n'));
    assert.match(refusals[0], /^app\/compose\.yaml:9:11: volumes\.data\.name: Docker volume 'portainer_data' is not this app's/);
    const snippet = converted.problems.find((text) => text.includes('[POLICY_SNIPPET]'));
    assert.match(snippet ?? '', /allowed_volume_names: \[portainer_data,legacy_data,Media\]|allowed_volume_names: \[.*portainer_data.*\]/);
  });

  it('refuses what only a created volume has, as compose-go does (driver, labels, name with external.name)', async () => {
    const converted = await convertCompose(`
services:
  web: {image: local/busybox:1, volumes: [data:/data]}
volumes:
  data:
    external: true
    driver: local
    labels: [a=b]
  other:
    name: one
    external: {name: two}
`, {}, { policy: ALLOWED });
    assert.equal(converted.state, undefined);
    assert.match(converted.problems[0], /compose\.yaml:7:5: volumes\.data\.driver: conflicting parameters "external" and "driver"/);
    assert.match(converted.problems[1], /compose\.yaml:8:5: volumes\.data\.labels: conflicting parameters "external" and "labels"/);
    assert.match(converted.problems[2], /compose\.yaml:11:16: volumes\.other\.external\.name: name and external\.name conflict/);
  });

  it('native manifests: external with labels, remove or snapshot is refused', async () => {
    const root = await writeCheckout({ 'app/app.yaml': 'app: app\nvolumes:\n  data: {external: true, name: app_data, remove: true, labels: {a: b}}\nservices:\n  web: {image: local/busybox:1}\n' });
    const validation = await validateDir({ root, path: 'app', commit: 'a'.repeat(40), hashKey });
    assert.deepEqual(validation.problems.map(formatProblem), [
      "app/app.yaml:3:42: volumes.data.remove: an external volume is not Capstan's: it is never labelled, snapshotted or deleted by Capstan; remove remove [VOLUME_EXTERNAL_SETTINGS]",
      "app/app.yaml:3:56: volumes.data.labels: an external volume is not Capstan's: it is never labelled, snapshotted or deleted by Capstan; remove labels [VOLUME_EXTERNAL_SETTINGS]",
    ]);
  });
});

describe('Compose volumes_from', () => {
  it('mounts the named volumes and binds of another service of the app at the same targets, read-only with :ro, its own mount winning', async () => {
    const converted = await convertCompose(`
services:
  data:
    image: local/busybox:1
    container_name: datastore
    volumes: [db:/var/lib/db, ./conf:/conf:ro]
  web:
    image: local/busybox:1
    volumes_from: [data:ro]
  job:
    image: local/busybox:1
    volumes: [other:/conf]
    volumes_from: ["container:datastore"]
volumes:
  db:
  other:
`, { 'conf/a.conf': 'a\n' });
    assert.deepEqual(converted.problems, []);
    const mounts = (service: string) => converted.app!.services.find((candidate) => candidate.name === service)!.mounts.map((mount) => `${mount.type === 'volume' ? mount.volume : mount.type === 'bind' ? mount.repo?.path : ''}:${mount.target}:${mount.readOnly ? 'ro' : 'rw'}`);
    assert.deepEqual(mounts('web'), ['db:/var/lib/db:ro', 'app/conf:/conf:ro']);
    assert.deepEqual(mounts('job'), ['other:/conf:rw', 'db:/var/lib/db:rw']);
    // Two services write db now: shared, as Compose lets them.
    assert.equal(converted.app!.volumes.find((volume) => volume.name === 'db')?.shared, true);
  });

  it('refuses an anonymous volume of the source, a container that is not the app\'s, an unknown service and a cycle, naming file, line and key', async () => {
    const converted = await convertCompose(`
services:
  data:
    image: local/busybox:1
    volumes: [/anon]
  web:
    image: local/busybox:1
    volumes_from: [data, "container:elsewhere", nothing]
  a: {image: local/busybox:1, volumes_from: [b]}
  b: {image: local/busybox:1, volumes_from: [a]}
`);
    const messages = converted.problems.filter((text) => !text.includes('POLICY'));
    assert.match(messages[0], /^app\/compose\.yaml:8:20: services\.web\.volumes_from\[0\]: not supported by Capstan: volumes_from 'data', whose anonymous volume \/anon belongs to each of its replicas/);
    assert.match(messages[1], /^app\/compose\.yaml:8:26: services\.web\.volumes_from\[1\]: not supported by Capstan: volumes_from a container that is not one of this app's services \(elsewhere\)/);
    assert.match(messages[2], /^app\/compose\.yaml:8:49: services\.web\.volumes_from\[2\]: volumes_from names 'nothing', which is not a service of this file \[COMPOSE_INVALID\]/);
    assert.ok(converted.problems.some((text) => /volumes_from: volumes_from forms a cycle: (a -> b -> a|b -> a -> b)/.test(text)), converted.problems.join('\n'));
  });
});
