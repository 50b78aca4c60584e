import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { containerCreateOptions } from '../../agent/targets/containers/execute-spec.js';
import { DEFAULT_POLICY, parsePolicy, type HostPolicy } from '../../agent/policy/index.js';
import { cleanupCheckouts, convertCompose, convertFiles } from './compose-helpers.js';

// Compose's service keys with a meaning on one Docker host: each reaches the container and the
// config hash; those that change what the container may do are decided by the host policy.

const service = (body: string, extra = '') => `services:\n  web:\n    image: local/busybox:1\n${body}${extra}`;
const SNIPPET_HEAD =
  'to admit what the host policy refused, set these lines in the policy file (--policy-file, CAPSTAN_POLICY_FILE), if you trust the repository with them: [POLICY_SNIPPET]';

const ALL_KEYS = [
  '    hostname: web1',
  '    domainname: example.org',
  '    extra_hosts:',
  '      - "db.local:10.0.0.5"',
  '      - "host.docker.internal=host-gateway"',
  '      - "v6:::1"',
  '    dns: 1.1.1.1',
  '    dns_search: [example.org]',
  '    dns_opt: ["ndots:2"]',
  '    stdin_open: true',
  '    tty: true',
  '    platform: linux/amd64',
  '    init: true',
  '    shm_size: 64m',
  '    stop_signal: SIGINT',
  '    stop_grace_period: 20s',
  '    pids_limit: 100',
  '    oom_score_adj: 200',
  '    cpuset: "0-1"',
  '    mac_address: 02-42-AC-11-65-43',
  '    logging:',
  '      driver: json-file',
  '      options: {max-size: 10m, max-file: 3}',
  '    sysctls:',
  '      net.core.somaxconn: 1024',
  '    security_opt: [no-new-privileges]',
  '    memswap_limit: 512m',
  '    mem_swappiness: 10',
  '    cpu_shares: 512',
  '    cpu_period: 100000',
  '    cpu_quota: 50000',
  '    group_add: [video, 44]',
  '',
].join('\n');

describe('Compose service keys of one Docker host', () => {
  after(cleanupCheckouts);

  it('each reaches the container create body', async () => {
    const converted = await convertCompose(service(ALL_KEYS));
    assert.deepEqual(converted.problems, []);
    assert.deepEqual(converted.notes, []);
    const app = converted.app!;
    const web = app.services[0];
    const options = containerCreateOptions(app, web, 1, { name: 'app-web-1', node: 'n', commit: 'c', endpoints: [{ network: 'app_default', aliases: ['web'] }] });
    const host = options.HostConfig!;
    assert.deepEqual(
      [options.Hostname, options.Domainname, options.Tty, options.OpenStdin, options.MacAddress, options.StopSignal, options.StopTimeout, (options as { platform?: string }).platform],
      ['web1', 'example.org', true, true, '02:42:ac:11:65:43', 'SIGINT', 20, 'linux/amd64'],
    );
    assert.deepEqual(host.ExtraHosts, ['db.local:10.0.0.5', 'host.docker.internal:host-gateway', 'v6:::1']);
    assert.deepEqual([host.Dns, host.DnsSearch, host.DnsOptions], [['1.1.1.1'], ['example.org'], ['ndots:2']]);
    assert.deepEqual([host.Init, host.ShmSize, host.PidsLimit, host.OomScoreAdj, host.CpusetCpus], [true, 64 * 1024 ** 2, 100, 200, '0-1']);
    assert.deepEqual(host.LogConfig, { Type: 'json-file', Config: { 'max-file': '3', 'max-size': '10m' } });
    assert.deepEqual(host.Sysctls, { 'net.core.somaxconn': '1024' });
    assert.deepEqual(host.SecurityOpt, ['no-new-privileges=true']);
    assert.deepEqual([host.MemorySwap, host.MemorySwappiness, host.CpuShares, host.CpuPeriod, host.CpuQuota, host.GroupAdd], [512 * 1024 ** 2, 10, 512, 100000, 50000, ['video', '44']]);
  });

  it('each is in the config hash: changing it replaces the replicas', async () => {
    const base = await convertCompose(service(ALL_KEYS));
    const baseHash = base.app!.services[0].configHash;
    const changes: [string, string][] = [
      ['hostname: web1', 'hostname: web2'],
      ['domainname: example.org', 'domainname: example.net'],
      ['db.local:10.0.0.5', 'db.local:10.0.0.6'],
      ['dns: 1.1.1.1', 'dns: 9.9.9.9'],
      ['dns_search: [example.org]', 'dns_search: [example.net]'],
      ['ndots:2', 'ndots:3'],
      ['stdin_open: true', 'stdin_open: false'],
      ['tty: true', 'tty: false'],
      ['platform: linux/amd64', 'platform: linux/arm64'],
      ['init: true', 'init: false'],
      ['shm_size: 64m', 'shm_size: 128m'],
      ['stop_signal: SIGINT', 'stop_signal: SIGTERM'],
      ['stop_grace_period: 20s', 'stop_grace_period: 30s'],
      ['pids_limit: 100', 'pids_limit: 200'],
      ['oom_score_adj: 200', 'oom_score_adj: 300'],
      ['cpuset: "0-1"', 'cpuset: "0"'],
      ['02-42-AC-11-65-43', '02-42-AC-11-65-44'],
      ['driver: json-file', 'driver: local'],
      ['max-file: 3', 'max-file: 4'],
      ['somaxconn: 1024', 'somaxconn: 2048'],
      ['security_opt: [no-new-privileges]', 'security_opt: []'],
      ['memswap_limit: 512m', 'memswap_limit: -1'],
      ['mem_swappiness: 10', 'mem_swappiness: 0'],
      ['cpu_shares: 512', 'cpu_shares: 256'],
      ['cpu_period: 100000', 'cpu_period: 50000'],
      ['cpu_quota: 50000', 'cpu_quota: 25000'],
      ['group_add: [video, 44]', 'group_add: [video]'],
    ];
    for (const [from, to] of changes) {
      assert.ok(ALL_KEYS.includes(from), from);
      const changed = await convertCompose(service(ALL_KEYS.replace(from, to)));
      assert.deepEqual(changed.problems, [], to);
      assert.notEqual(changed.app!.services[0].configHash, baseHash, `${from} → ${to} changes the hash`);
    }
    const respelled = await convertCompose(service(ALL_KEYS.replace('security_opt: [no-new-privileges]', 'security_opt: ["no-new-privileges:true"]')));
    assert.equal(respelled.app!.services[0].configHash, baseHash, 'no-new-privileges and no-new-privileges:true are one setting');
  });

  it('extra_hosts: list and map forms, several addresses for one host, host-gateway', async () => {
    const map = await convertCompose(service('    extra_hosts:\n      db.local: 10.0.0.5\n      multi: ["10.0.0.7", "::1"]\n      host.docker.internal: host-gateway\n'));
    assert.deepEqual(map.problems, []);
    assert.deepEqual(map.app!.services[0].extraHosts, ['db.local:10.0.0.5', 'host.docker.internal:host-gateway', 'multi:10.0.0.7', 'multi:::1']);
    const list = await convertCompose(service('    extra_hosts: ["multi=10.0.0.7", "db.local:10.0.0.5", "multi=::1", "host.docker.internal:host-gateway"]\n'));
    assert.equal(list.app!.services[0].configHash, map.app!.services[0].configHash, 'the same hosts in either form are the same container');
    const bad = await convertCompose(service('    extra_hosts: ["no-address"]\n'));
    assert.equal(bad.problems.length, 1);
    assert.match(bad.problems[0], /^app\/compose\.yaml:4:19: services\.web\.extra_hosts\[0\]: .*\[SCHEMA\]$/);
  });

  it('devices: long syntax and CDI names, decided by allow_devices', async () => {
    const body = service('    devices:\n      - source: /dev/fuse\n        target: /dev/fuse\n        permissions: rw\n      - /dev/net/tun\n      - nvidia.com/gpu=all\n');
    const refused = await convertCompose(body);
    assert.deepEqual(refused.problems, [
      'app/compose.yaml:5:7: services.web.devices: access to host devices is refused by host policy; set allow_devices: true in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it [POLICY_REFUSED]',
      `app/compose.yaml: ${SNIPPET_HEAD}\n    allow_devices: true`,
    ]);
    const allowed = await convertCompose(body, {}, { policy: { ...DEFAULT_POLICY, allowDevices: true } });
    assert.deepEqual(allowed.problems, []);
    const web = allowed.app!.services[0];
    assert.deepEqual(web.devices, [
      { host: '/dev/fuse', container: '/dev/fuse', permissions: 'rw' },
      { host: '/dev/net/tun', container: '/dev/net/tun', permissions: 'rwm' },
    ]);
    assert.deepEqual(web.cdiDevices, ['nvidia.com/gpu=all']);
    const options = containerCreateOptions(allowed.app!, web, 1, { name: 'x', node: 'n', commit: 'c', endpoints: [] });
    assert.deepEqual(options.HostConfig!.DeviceRequests, [{ Driver: 'cdi', DeviceIDs: ['nvidia.com/gpu=all'], Count: 0, Capabilities: [], Options: {} }]);
  });
});

describe('host policy: sysctls, security_opt, time zone files, and the snippet that admits an app', () => {
  after(cleanupCheckouts);

  it('net.* sysctls are the container\'s own; others need allowed_sysctls (a name or a prefix)', async () => {
    const body = service('    sysctls:\n      - net.ipv4.ip_forward=1\n      - kernel.shmmax=68719476736\n      - fs.mqueue.msg_max=100\n');
    const refused = await convertCompose(body);
    assert.deepEqual(refused.problems, [
      'app/compose.yaml:6:9: services.web.sysctls[1]: sysctl kernel.shmmax, which Docker does not give each container its own copy of (only net.* ones) is refused by host policy; set allowed_sysctls: [kernel.shmmax] in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it [POLICY_REFUSED]',
      'app/compose.yaml:7:9: services.web.sysctls[2]: sysctl fs.mqueue.msg_max, which Docker does not give each container its own copy of (only net.* ones) is refused by host policy; set allowed_sysctls: [fs.mqueue.msg_max] in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it [POLICY_REFUSED]',
      `app/compose.yaml: ${SNIPPET_HEAD}\n    allowed_sysctls: [kernel.shmmax, fs.mqueue.msg_max]`,
    ]);
    const policy = parsePolicy('allowed_sysctls: [kernel.shmmax, fs.mqueue.*]\n', 'p.yaml');
    const allowed = await convertCompose(body, {}, { policy });
    assert.deepEqual(allowed.problems, []);
    assert.deepEqual(allowed.app!.services[0].sysctls, { 'fs.mqueue.msg_max': '100', 'kernel.shmmax': '68719476736', 'net.ipv4.ip_forward': '1' });
  });

  it('net.* sysctls are refused with network_mode: host, whose namespace is the host\'s', async () => {
    const converted = await convertCompose(service('    network_mode: host\n    sysctls: {net.core.somaxconn: 1024}\n'), {}, { policy: { ...DEFAULT_POLICY, allowHostNetwork: true } });
    assert.equal(converted.problems.length, 1);
    assert.match(converted.problems[0], /^app\/compose\.yaml:5:35: services\.web\.sysctls\["net\.core\.somaxconn"\]: .*network_mode: host.* \[SYSCTL_HOST_NETWORK\]$/);
  });

  it('security_opt: no-new-privileges always; no-new-privileges=false, unconfined profiles and label=disable by allowed_security_opts', async () => {
    const undone = await convertCompose(service('    security_opt: ["no-new-privileges:false"]\n'));
    assert.match(undone.problems[0], /security option no-new-privileges=false is refused by host policy/, 'it undoes a daemon default');
    const body = service('    security_opt:\n      - no-new-privileges:true\n      - seccomp:unconfined\n      - apparmor=unconfined\n      - label=disable\n');
    const refused = await convertCompose(body);
    assert.deepEqual(
      refused.problems.map((line) => line.replace(/ is refused by host policy.*/, '')),
      [
        'app/compose.yaml:6:9: services.web.security_opt[1]: security option seccomp=unconfined',
        'app/compose.yaml:7:9: services.web.security_opt[2]: security option apparmor=unconfined',
        'app/compose.yaml:8:9: services.web.security_opt[3]: security option label=disable',
        `app/compose.yaml: ${SNIPPET_HEAD}\n    allowed_security_opts: [seccomp=unconfined, apparmor=unconfined, label=disable]`,
      ],
    );
    const policy = parsePolicy('allowed_security_opts: ["seccomp:unconfined", apparmor=unconfined, label=disable]\n', 'p.yaml');
    const allowed = await convertCompose(body, {}, { policy });
    assert.deepEqual(allowed.problems, []);
    assert.deepEqual(allowed.app!.services[0].securityOpt, ['apparmor=unconfined', 'label=disable', 'no-new-privileges=true', 'seccomp=unconfined']);
  });

  it('the default policy allows read-only binds of /etc/localtime and /etc/timezone, nothing more', async () => {
    const allowed = await convertCompose(service('    volumes:\n      - /etc/localtime:/etc/localtime:ro\n      - type: bind\n        source: /etc/timezone\n        target: /etc/timezone\n        read_only: true\n'));
    assert.deepEqual(allowed.problems, []);
    const writable = await convertCompose(service('    volumes:\n      - /etc/localtime:/etc/localtime\n      - /etc/hostname:/etc/hostname:ro\n'));
    assert.deepEqual(writable.problems.map((line) => line.replace(/ is refused by host policy.*/, '')), [
      'app/compose.yaml:5:9: services.web.volumes[0]: mounting host path /etc/localtime',
      'app/compose.yaml:6:9: services.web.volumes[1]: mounting host path /etc/hostname',
      `app/compose.yaml: ${SNIPPET_HEAD}\n    bind_roots: [/etc]`,
    ]);
  });

  it('the snippet keeps what the policy allows already, since a list written in the file replaces it', async () => {
    const policy: HostPolicy = parsePolicy('allowed_capabilities: [NET_ADMIN]\nbind_roots: [/srv]\nallowed_runtimes: [runc]\n', 'p.yaml');
    const converted = await convertCompose(
      service('    cap_add: [NET_ADMIN, SYS_TIME]\n    runtime: nvidia\n    privileged: true\n    volumes: ["/data/x:/x", "/srv/ok:/ok"]\n'),
      {},
      { policy },
    );
    assert.equal(converted.problems.at(-1), `app/compose.yaml: ${SNIPPET_HEAD}\n    allow_privileged: true\n    allowed_capabilities: [NET_ADMIN, SYS_TIME]\n    bind_roots: [/srv, /data]\n    allowed_runtimes: [runc, nvidia]`);
    const admitted = parsePolicy(converted.problems.at(-1)!.split('\n').slice(1).join('\n').replace(/^ {4}/gm, ''), 'snippet.yaml');
    const again = await convertCompose(
      service('    cap_add: [NET_ADMIN, SYS_TIME]\n    runtime: nvidia\n    privileged: true\n    volumes: ["/data/x:/x", "/srv/ok:/ok"]\n'),
      {},
      { policy: admitted },
    );
    assert.deepEqual(again.problems, [], 'the snippet as printed admits the app');
  });

  it('two apps refused: one snippet, after every problem', async () => {
    const converted = await convertFiles({
      'apps/a/compose.yaml': service('    privileged: true\n'),
      'apps/b/compose.yaml': service('    cap_add: [SYS_ADMIN]\n'),
    }, { folder: 'apps' });
    assert.equal(converted.problems.length, 3);
    assert.equal(converted.problems[2], `apps/a/compose.yaml, apps/b/compose.yaml: ${SNIPPET_HEAD}\n    allow_privileged: true\n    allowed_capabilities: [SYS_ADMIN]`);
  });
});

describe('service names as Compose allows them', () => {
  after(cleanupCheckouts);

  it('capitals and dots: a DNS-safe key, references follow, the Compose name stays an alias', async () => {
    const converted = await convertCompose(
      'services:\n  Web:\n    image: local/busybox:1\n    depends_on: [my.db]\n  my.db:\n    image: local/busybox:1\n    networks: [back]\n  Side:\n    image: local/busybox:1\n    network_mode: service:Web\nnetworks:\n  back:\n',
    );
    assert.deepEqual(converted.problems, []);
    const services = converted.manifest.services as any;
    assert.deepEqual(Object.keys(services), ['Web', 'my.db', 'Side'].map((name) => name.toLowerCase().replace('.', '-')));
    assert.deepEqual(services.web.networks, { default: { aliases: ['Web'] } });
    assert.deepEqual(services.web.depends_on, ['my-db']);
    assert.deepEqual(services['my-db'].networks, { back: { aliases: ['my.db'] } });
    assert.equal(services.side.network_mode, 'service:web');
    assert.deepEqual(converted.notes, [
      "app/compose.yaml:2:3: services.Web: containers of this service are named <app>-web-<n>; 'Web' stays reachable as a network alias",
      "app/compose.yaml:5:3: services[\"my.db\"]: containers of this service are named <app>-my-db-<n>; 'my.db' stays reachable as a network alias",
      'app/compose.yaml:8:3: services.Side: containers of this service are named <app>-side-<n>',
    ]);
  });

  it('two names that become one key are an error naming both, with no follow-on errors', async () => {
    const converted = await convertCompose('services:\n  web:\n    image: local/busybox:1\n  WEB:\n    image: local/busybox:1\n  api:\n    image: local/busybox:1\n    depends_on: [WEB]\n  side:\n    image: local/busybox:1\n    network_mode: service:WEB\n');
    assert.deepEqual(converted.problems, ["app/compose.yaml:4:3: services.WEB: service name 'WEB' cannot be told apart in container names: 'web' becomes 'web' too; rename one [COMPOSE_SERVICE_NAME]"]);
  });
});

describe('interpolation as Compose does it', () => {
  after(cleanupCheckouts);

  it('typed fields take a variable and are typed after interpolation', async () => {
    const converted = await convertCompose(
      service(
        '    read_only: ${RO:-false}\n    init: ${INIT}\n    tty: "${TTY:-yes}"\n    oom_score_adj: ${OOM:--100}\n    ports:\n      - target: ${PORT:-80}\n        published: "${PUBLISHED}"\n    healthcheck:\n      test: ["CMD", "true"]\n      retries: ${RETRIES:-3}\n      disable: ${NO_CHECK:-false}\n    deploy:\n      replicas: ${REPLICAS:-1}\n    volumes:\n      - type: volume\n        source: data\n        target: /data\n        read_only: ${DATA_RO:-true}\n',
        'volumes:\n  data:\n',
      ),
      { '.env': 'INIT=true\nPUBLISHED=8080\n' },
    );
    assert.deepEqual(converted.problems, []);
    const web = converted.app!.services[0];
    assert.deepEqual([web.readOnly, web.init, web.tty, web.oomScoreAdj, web.replicas, web.healthcheck?.retries], [undefined, true, true, -100, 1, 3]);
    assert.deepEqual(web.ports, [{ containerPort: 80, hostPort: 8080, protocol: 'tcp' }]);
    assert.deepEqual(web.mounts, [{ type: 'volume', volume: 'data', target: '/data', readOnly: true }]);
  });

  it('a variable that gives no boolean is refused at its key, without its value', async () => {
    const converted = await convertCompose(service('    init: ${INIT}\n'), { '.env': 'INIT=sometimes\n' });
    assert.deepEqual(converted.problems, ['app/compose.yaml:4:11: services.web.init: must be a boolean, not a string [SCHEMA]']);
  });

  it('$$ is a literal dollar, never a variable', async () => {
    const converted = await convertCompose(service('    command: ["sh", "-c", "echo $$HOME $${X}"]\n    environment:\n      PRICE: "$$5"\n'));
    assert.deepEqual(converted.problems, []);
    assert.deepEqual(converted.app!.services[0].command, ['sh', '-c', 'echo $HOME ${X}']);
    assert.deepEqual(converted.app!.services[0].environment, { PRICE: '$5' });
  });
});

describe('.env values as Compose reads them', () => {
  after(cleanupCheckouts);

  it('a value uses earlier variables and ${VAR:-default}; single quotes keep it literal; $$ is a dollar', async () => {
    const converted = await convertCompose(
      service('    environment:\n      URL: ${URL}\n      LITERAL: ${LITERAL}\n      PRICE: ${PRICE}\n    volumes:\n      - ${VOLUME}:/data\n', 'volumes:\n  appdata:\n'),
      { '.env': 'HOST=db\nPORT=${PORT_OVERRIDE:-5432}\nURL="postgres://${HOST}:${PORT}/app"\nLITERAL=\'${HOST}\'\nPRICE=$$5\nVOLUME=${VOLUME_NAME:-appdata}\n' },
    );
    assert.deepEqual(converted.problems, []);
    const web = converted.app!.services[0];
    assert.deepEqual(web.environment, { URL: 'postgres://db:5432/app', LITERAL: '${HOST}', PRICE: '$5' });
    assert.deepEqual(web.mounts, [{ type: 'volume', volume: 'appdata', target: '/data', readOnly: false }]);
  });

  it('an env_file value may use .env\'s variables; an unset one is empty as in Compose, ${VAR:?} an error at its line', async () => {
    const converted = await convertCompose(service('    env_file: app.env\n'), { '.env': 'HOST=db\n', 'app.env': 'DSN=${HOST}:5432\nEMPTY=${NOT_SET}\n' });
    assert.deepEqual(converted.problems, []);
    assert.deepEqual(converted.app!.services[0].environment, { DSN: 'db:5432', EMPTY: '' });
    const required = await convertCompose(service('    env_file: app.env\n'), { 'app.env': 'A=1\nDSN=${HOST:?set HOST in .env}\n' });
    assert.deepEqual(required.problems, ["app/app.env:2:1: DSN: variable 'HOST' is not set or empty: set HOST in .env [UNDEFINED_VARIABLE]"]);
  });
});

describe('invalid Compose is refused with file, line and key', () => {
  after(cleanupCheckouts);

  it('environment as a single string, and a name set twice in a list', async () => {
    const converted = await convertCompose(service('    environment: "FOO=1"\n    labels: [a=1, b, a=2]\n    build:\n      context: .\n      args: [X=1, X=2]\n'));
    assert.deepEqual(converted.problems, [
      'app/compose.yaml:4:18: services.web.environment: environment must be a map (KEY: value) or a list of KEY=VALUE items, not a single value [COMPOSE_INVALID]',
      "app/compose.yaml:5:22: services.web.labels[2]: 'a' is already set by item 0 of labels; keep one [COMPOSE_DUPLICATE]",
      "app/compose.yaml:8:19: services.web.build.args[1]: 'X' is already set by item 0 of build.args; keep one [COMPOSE_DUPLICATE]",
    ]);
    const duplicate = await convertCompose(service('    environment:\n      - FOO=1\n      - BAR\n      - FOO=2\n'));
    assert.deepEqual(duplicate.problems, ["app/compose.yaml:7:9: services.web.environment[2]: 'FOO' is already set by item 0 of environment; keep one [COMPOSE_DUPLICATE]"]);
  });

  it('in an override file, named as such', async () => {
    const converted = await convertCompose(service('    environment: [A=1]\n'), { 'compose.override.yaml': 'services:\n  web:\n    environment: "B=2"\n' });
    assert.deepEqual(converted.problems, [
      'app/compose.override.yaml:3:18: services.web.environment: environment must be a map (KEY: value) or a list of KEY=VALUE items, not a single value [COMPOSE_INVALID]',
    ]);
  });

  it('a key written twice in one map names the key and both lines', async () => {
    const converted = await convertCompose(service('    environment:\n      A: 1\n      A: 2\n'));
    assert.deepEqual(converted.problems, ["app/compose.yaml:6:7: services.web.environment.A: 'A' is written twice in the same map (first on line 5); keep one [YAML_SYNTAX]"]);
  });

  it('a refused key is not reported again by the native checks', async () => {
    const converted = await convertCompose(service('    volumes:\n      - data:/data:bogus\n', 'volumes:\n  data:\n'));
    assert.deepEqual(converted.problems, ["app/compose.yaml:5:9: services.web.volumes[0]: unknown mount option 'bogus'; use ro or rw, z or Z, nocopy [COMPOSE_INVALID]"]);
  });
});

describe('mount flags and ~ in bind paths', () => {
  after(cleanupCheckouts);

  it(':z/:Z go to Docker as Binds (the only form it relabels), nocopy as the volume option; cached and delegated are no-ops', async () => {
    const converted = await convertCompose(
      service('    volumes:\n      - ./conf:/etc/app:ro,Z\n      - data:/data:nocopy,z\n      - cache:/cache:nocopy\n      - ./conf:/more:cached\n', 'volumes:\n  data:\n  cache:\n'),
      { 'conf/app.ini': 'x=1\n' },
    );
    assert.deepEqual(converted.problems, []);
    const app = converted.app!;
    const options = containerCreateOptions(app, app.services[0], 1, { name: 'x', node: 'n', commit: 'c', endpoints: [] });
    const host = options.HostConfig!;
    const confSource = (app.services[0].mounts[0] as { source: string }).source;
    assert.deepEqual(host.Binds, [`${confSource}:/etc/app:ro,Z`, 'app_data:/data:rw,nocopy,z']);
    assert.deepEqual(
      host.Mounts!.map((mount) => [mount.Target, mount.VolumeOptions]),
      [['/cache', { NoCopy: true }], ['/more', undefined]],
    );
    const plain = await convertCompose(service('    volumes:\n      - ./conf:/etc/app:ro\n', ''), { 'conf/app.ini': 'x=1\n' });
    const labelled = await convertCompose(service('    volumes:\n      - ./conf:/etc/app:ro,Z\n', ''), { 'conf/app.ini': 'x=1\n' });
    assert.notEqual(plain.app!.services[0].configHash, labelled.app!.services[0].configHash, 'adding :Z replaces the container');
  });

  it('~ is the agent user\'s home; the host policy decides as for any host path', async () => {
    const home = (await import('node:os')).homedir();
    const refused = await convertCompose(service('    volumes:\n      - ~/media:/media:ro\n'));
    assert.equal(refused.problems.length, 2);
    assert.ok(refused.problems[0].startsWith(`app/compose.yaml:5:9: services.web.volumes[0]: mounting host path ${home}/media is refused by host policy`), refused.problems[0]);
    const allowed = await convertCompose(service('    volumes:\n      - ~/media:/media:ro\n'), {}, { policy: { ...DEFAULT_POLICY, bindRoots: [home] } });
    assert.deepEqual(allowed.problems, []);
    assert.deepEqual(allowed.app!.services[0].mounts, [{ type: 'bind', source: `${home}/media`, target: '/media', readOnly: true }]);
    const other = await convertCompose(service('    volumes:\n      - ~bob/media:/media\n'));
    assert.match(other.problems[0], /'~user' is not expanded/);
  });
});

describe('security_opt: a seccomp profile from the repository', () => {
  after(cleanupCheckouts);

  it('is sent as its content, once the host policy allows that option', async () => {
    const body = service('    security_opt: ["seccomp:./seccomp.json"]\n');
    const profile = '{\n  "defaultAction": "SCMP_ACT_ALLOW"\n}\n';
    const refused = await convertCompose(body, { 'seccomp.json': profile });
    assert.equal(refused.problems.at(-1), `app/compose.yaml: ${SNIPPET_HEAD}\n    allowed_security_opts: [seccomp=./seccomp.json]`);
    const policy = parsePolicy('allowed_security_opts: [seccomp=./seccomp.json]\n', 'p.yaml');
    const allowed = await convertCompose(body, { 'seccomp.json': profile }, { policy });
    assert.deepEqual(allowed.problems, []);
    const web = allowed.app!.services[0];
    const options = containerCreateOptions(allowed.app!, web, 1, { name: 'x', node: 'n', commit: 'c', endpoints: [] });
    assert.deepEqual(options.HostConfig!.SecurityOpt, ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']);
    const changed = await convertCompose(body, { 'seccomp.json': '{"defaultAction": "SCMP_ACT_ERRNO"}' }, { policy });
    assert.notEqual(changed.app!.services[0].configHash, web.configHash, 'a changed profile replaces the container');
  });

  it('a missing or broken profile, or one outside the repository, is an error at its entry', async () => {
    const policy = parsePolicy('allowed_security_opts: [seccomp=./seccomp.json, seccomp=/etc/x.json]\n', 'p.yaml');
    const missing = await convertCompose(service('    security_opt: [seccomp=./seccomp.json]\n'), {}, { policy });
    assert.match(missing.problems[0], /^app\/compose\.yaml:4:20: services\.web\.security_opt\[0\]: the seccomp profile does not exist in the checkout.*\[SECCOMP_PROFILE\]$/);
    const broken = await convertCompose(service('    security_opt: [seccomp=./seccomp.json]\n'), { 'seccomp.json': '{' }, { policy });
    assert.deepEqual(broken.problems, ['app/compose.yaml:4:20: services.web.security_opt[0]: the seccomp profile is not a JSON file Docker can read [SECCOMP_PROFILE]']);
    const host = await convertCompose(service('    security_opt: [seccomp=/etc/x.json]\n'), {}, { policy });
    assert.match(host.problems[0], /a seccomp profile is read from the repository/);
  });
});

describe('the same fields in native manifests, and on Swarm', () => {
  after(cleanupCheckouts);

  it('a native manifest takes them with the same spelling', async () => {
    const converted = await convertFiles(
      {
        'apps/web.yaml':
          'app: web\nservices:\n  web:\n    image: local/busybox:1\n    hostname: web1\n    extra_hosts: {db.local: 10.0.0.5}\n    dns_search: corp.example\n    sysctls: [net.core.somaxconn=1024]\n    security_opt: [no-new-privileges]\n    logging: {driver: local}\n    tty: "${TTY:-true}"\n    resources: {cpuset: "0"}\n    devices: []\n    volumes: ["data:/data:nocopy"]\nvolumes:\n  data:\n',
      },
      { folder: 'apps' },
    );
    assert.deepEqual(converted.problems, []);
    const web = converted.app!.services[0];
    assert.deepEqual(
      [web.hostname, web.extraHosts, web.dnsSearch, web.sysctls, web.securityOpt, web.logging, web.tty, web.resources, web.devices],
      ['web1', ['db.local:10.0.0.5'], ['corp.example'], { 'net.core.somaxconn': '1024' }, ['no-new-privileges=true'], { driver: 'local', options: {} }, true, { cpuset: '0' }, []],
    );
  });

  it('Swarm refuses each by name rather than dropping it', async () => {
    const { unsupportedFields } = await import('../../agent/targets/swarm/support.js');
    const converted = await convertCompose(service('    hostname: web1\n    sysctls: {net.core.somaxconn: 1024}\n    volumes: ["data:/data:Z"]\n', 'volumes:\n  data:\n'));
    const problems = unsupportedFields(converted.app!, converted.app!.services[0], new Map()).map((problem) => problem.message.replace(/^service [^:]+:\d+\): /, ''));
    assert.deepEqual(problems, [
      'hostname: not carried into Swarm services by Capstan; run this service with the containers target, or leave the key out',
      'sysctls: not carried into Swarm services by Capstan; run this service with the containers target, or leave the key out',
      'volumes /data:Z: Swarm services cannot relabel a bind source for SELinux; label it on the nodes by hand',
    ]);
  });
});

describe('host namespaces, GPUs and the other runtime keys', () => {
  after(cleanupCheckouts);

  it('ipc, uts, userns_mode, cgroup: host is for the host policy to allow; the rest reaches the container', async () => {
    const body = service('    ipc: host\n    uts: host\n    userns_mode: host\n    cgroup: host\n    oom_kill_disable: true\n    storage_opt: {size: 20G}\n');
    const refused = await convertCompose(body);
    assert.deepEqual(refused.problems.map((line) => line.replace(/ is refused by host policy.*/, '')), [
      "app/compose.yaml:4:10: services.web.ipc: the host's IPC namespace (ipc: host)",
      "app/compose.yaml:5:10: services.web.uts: the host's UTS namespace (uts: host)",
      "app/compose.yaml:6:18: services.web.userns_mode: the host's user namespace (userns_mode: host)",
      "app/compose.yaml:7:13: services.web.cgroup: the host's cgroup namespace (cgroup: host)",
      `app/compose.yaml: ${SNIPPET_HEAD}\n    allow_host_ipc: true\n    allow_host_uts: true\n    allow_host_userns: true\n    allow_host_cgroup: true`,
    ]);
    const policy = parsePolicy('allow_host_ipc: true\nallow_host_uts: true\nallow_host_userns: true\nallow_host_cgroup: true\n', 'p.yaml');
    const allowed = await convertCompose(body, {}, { policy });
    assert.deepEqual(allowed.problems, []);
    const options = containerCreateOptions(allowed.app!, allowed.app!.services[0], 1, { name: 'x', node: 'n', commit: 'c', endpoints: [] });
    const host = options.HostConfig as Record<string, unknown>;
    assert.deepEqual([host.IpcMode, host.UTSMode, host.UsernsMode, host.CgroupnsMode, host.OomKillDisable, host.StorageOpt], ['host', 'host', 'host', 'host', true, { size: '20G' }]);
    const shareable = await convertCompose(service('    ipc: shareable\n'));
    assert.deepEqual(shareable.problems, []);
    const sharing = await convertCompose(service('    ipc: service:db\n'));
    assert.match(sharing.problems[0], /^app\/compose\.yaml:4:10: services\.web\.ipc: not supported by Capstan: sharing the IPC namespace of another container/);
  });

  it('gpus: all, or the long syntax, as Docker device requests, when allow_devices is set', async () => {
    const refused = await convertCompose(service('    gpus: all\n'));
    assert.equal(refused.problems.at(-1), `app/compose.yaml: ${SNIPPET_HEAD}\n    allow_devices: true`);
    const policy = { ...DEFAULT_POLICY, allowDevices: true };
    const all = await convertCompose(service('    gpus: all\n'), {}, { policy });
    const some = await convertCompose(service('    gpus:\n      - driver: nvidia\n        device_ids: ["0", "1"]\n        capabilities: [gpu, utility]\n'), {}, { policy });
    assert.deepEqual([all.problems, some.problems], [[], []]);
    const requests = (converted: typeof all) => containerCreateOptions(converted.app!, converted.app!.services[0], 1, { name: 'x', node: 'n', commit: 'c', endpoints: [] }).HostConfig!.DeviceRequests;
    assert.deepEqual(requests(all), [{ Driver: 'nvidia', Count: -1, DeviceIDs: [], Capabilities: [['gpu']], Options: {} }]);
    assert.deepEqual(requests(some), [{ Driver: 'nvidia', Count: 0, DeviceIDs: ['0', '1'], Capabilities: [['gpu', 'utility']], Options: {} }]);
  });
});

describe('block I/O, real-time CPU and device cgroup rules', () => {
  after(cleanupCheckouts);

  it('reach the container; device cgroup rules need allow_devices', async () => {
    const body = service(
      '    blkio_config:\n      weight: 300\n      weight_device: [{path: /dev/sda, weight: 400}]\n      device_read_bps: [{path: /dev/sdb, rate: 12mb}]\n      device_write_iops: [{path: /dev/sdb, rate: 120}]\n    cpu_rt_runtime: 400ms\n    cpu_rt_period: 1400000\n    device_cgroup_rules: ["c 189:* rmw"]\n',
    );
    const refused = await convertCompose(body);
    assert.equal(refused.problems.at(-1), `app/compose.yaml: ${SNIPPET_HEAD}\n    allow_devices: true`);
    const allowed = await convertCompose(body, {}, { policy: { ...DEFAULT_POLICY, allowDevices: true } });
    assert.deepEqual(allowed.problems, []);
    const host = containerCreateOptions(allowed.app!, allowed.app!.services[0], 1, { name: 'x', node: 'n', commit: 'c', endpoints: [] }).HostConfig!;
    assert.deepEqual(
      [host.BlkioWeight, host.BlkioWeightDevice, host.BlkioDeviceReadBps, host.BlkioDeviceWriteIOps, host.CpuRealtimeRuntime, host.CpuRealtimePeriod, host.DeviceCgroupRules],
      [300, [{ Path: '/dev/sda', Weight: 400 }], [{ Path: '/dev/sdb', Rate: 12 * 1024 ** 2 }], [{ Path: '/dev/sdb', Rate: 120 }], 400_000, 1_400_000, ['c 189:* rmw']],
    );
  });
});

describe('links with an alias', () => {
  after(cleanupCheckouts);

  it('the alias becomes a network alias of the linked service, on each of its networks', async () => {
    const converted = await convertCompose(
      'services:\n  app:\n    image: local/busybox:1\n    links: [db:database, cache, db:db]\n    networks: [back]\n  db:\n    image: local/busybox:1\n    networks: [back, front]\n  cache:\n    image: local/busybox:1\nnetworks:\n  back:\n  front:\n',
    );
    assert.deepEqual(converted.problems, []);
    assert.deepEqual((converted.manifest.services as any).db.networks, { back: { aliases: ['database'] }, front: { aliases: ['database'] } });
    assert.deepEqual(
      converted.app!.services.find((candidate) => candidate.name === 'db')!.networks,
      [{ network: 'back', aliases: ['database'] }, { network: 'front', aliases: ['database'] }],
    );
    assert.ok(converted.notes.includes("app/compose.yaml:4:13: services.app.links[0]: 'database' becomes a network alias of 'db': every service on its networks reaches it by that name"), converted.notes.join('\n'));
    const unknown = await convertCompose('services:\n  app:\n    image: local/busybox:1\n    links: [nope:alias]\n');
    assert.deepEqual(unknown.problems, ["app/compose.yaml:4:13: services.app.links[0]: links names 'nope', which is not a service of this file [COMPOSE_INVALID]"]);
  });
});

describe('label_file', () => {
  after(cleanupCheckouts);

  it('labels come from files of the repository; labels: wins', async () => {
    const converted = await convertCompose(service('    labels: {team: web}\n    label_file: [./app.labels]\n'), { 'app.labels': 'team=ops\ntier=front\n' });
    assert.deepEqual(converted.problems, []);
    assert.deepEqual(converted.app!.services[0].labels, { team: 'web', tier: 'front' });
    const missing = await convertCompose(service('    label_file: ./none.labels\n'));
    assert.deepEqual(missing.problems, ["app/compose.yaml:4:17: services.web.label_file: the label file does not exist in the repository (paths start from the Compose file's folder); commit it or fix the path [COMPOSE_INVALID]"]);
    const outside = await convertFiles({ 'app/compose.yaml': service('    label_file: ../../etc/passwd\n') });
    assert.equal(outside.problems.length, 1, 'a path leaving the checkout is not read');
  });
});
