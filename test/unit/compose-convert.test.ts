import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DEFAULT_POLICY } from '../../agent/policy/index.js';
import { cleanupCheckouts, convertCompose } from './compose-helpers.js';

// One Compose key at a time: what the native manifest gets, and what the loaded service becomes.

const service = (body: string, extra = '') => `services:\n  web:\n    image: local/busybox:1\n${body}${extra}`;

describe('Compose service keys → native fields', () => {
  after(cleanupCheckouts);

  it('environment: list and map forms; a name alone takes ${NAME} from .env', async () => {
    const list = await convertCompose(service('    environment:\n      - A=1\n      - B=x=y\n      - TZ\n'), { '.env': 'TZ=Europe/Paris\n' });
    assert.deepEqual(list.problems, []);
    assert.deepEqual((list.manifest.services as any).web.environment, { A: '1', B: 'x=y', TZ: '${TZ}' });
    assert.deepEqual(list.app!.services[0].environment, { A: '1', B: 'x=y', TZ: 'Europe/Paris' });

    const map = await convertCompose(service('    environment:\n      A: 1\n      B: true\n      MISSING:\n'));
    assert.deepEqual(map.problems, ["app/compose.yaml:7:15: services.web.environment.MISSING: variable 'MISSING' is not set; define it in an env file or write ${MISSING:-default}; or set allow_unset_variables: true in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to let a Compose file leave it empty, as Compose does [UNDEFINED_VARIABLE]"]);
  });

  it('ports: short syntax as written, long syntax with a quoted number, ranges refused', async () => {
    const converted = await convertCompose(
      service('    ports:\n      - "127.0.0.1:8080:80"\n      - 9000\n      - target: 53\n        published: "5353"\n        protocol: udp\n        mode: host\n'),
    );
    assert.deepEqual(converted.problems, []);
    assert.deepEqual((converted.manifest.services as any).web.ports, ['127.0.0.1:8080:80', 9000, { target: 53, published: 5353, protocol: 'udp' }]);
    assert.deepEqual(converted.notes, ['app/compose.yaml:10:9: services.web.ports[2].mode: ports are published on this host (`host`); `ingress` has no routing mesh here']);
    const range = await convertCompose(service('    ports:\n      - target: 80\n        published: 8000-8010\n'));
    assert.deepEqual(range.problems, ['app/compose.yaml:6:20: services.web.ports[0].published: not supported by Capstan: port ranges; list each port on its own [COMPOSE_UNSUPPORTED]']);
  });

  it('volumes: short and long syntax, tmpfs mounts, SELinux labels and nocopy kept', async () => {
    const converted = await convertCompose(
      service(
        '    volumes:\n      - data:/data:nocopy\n      - ./conf:/etc/app:ro\n      - type: volume\n        source: data\n        target: /more\n        read_only: true\n      - type: tmpfs\n        target: /cache\n        tmpfs:\n          size: 64m\n          mode: 1777\n    tmpfs: /run\n',
        'volumes:\n  data:\n',
      ),
      { 'conf/app.ini': 'x=1\n' },
    );
    assert.deepEqual(converted.problems, []);
    const web = (converted.manifest.services as any).web;
    assert.deepEqual(web.volumes, ['data:/data:nocopy', './conf:/etc/app:ro', { type: 'volume', source: 'data', target: '/more', read_only: true }]);
    assert.deepEqual(web.tmpfs, ['/cache:size=64m,mode=1777', '/run']);
    assert.deepEqual(converted.app!.services[0].tmpfs, { '/cache': 'size=64m,mode=1777', '/run': '' });
    assert.deepEqual(converted.notes, []);
    assert.deepEqual(converted.app!.services[0].mounts[0], { type: 'volume', volume: 'data', target: '/data', readOnly: false, noCopy: true });

    const selinux = await convertCompose(service('    volumes:\n      - data:/data:Z\n      - ./conf:/etc/app:ro,z,cached\n', 'volumes:\n  data:\n'), { 'conf/app.ini': 'x=1\n' });
    assert.deepEqual(selinux.problems, []);
    assert.deepEqual((selinux.manifest.services as any).web.volumes, ['data:/data:Z', './conf:/etc/app:ro,z']);
    assert.deepEqual(selinux.notes, ['app/compose.yaml:6:9: services.web.volumes[1]: no effect on Linux']);
  });

  it('a relative bind source missing from the repository: a volume of the app (short syntax, as Compose creates the folder), refused in the long syntax', async () => {
    const converted = await convertCompose(service('    volumes:\n      - ./data:/data\n'));
    assert.deepEqual(converted.problems, []);
    assert.deepEqual((converted.manifest.services as any).web.volumes, ['data:/data:nocopy']);
    assert.deepEqual(converted.app!.volumes.map((volume) => volume.dockerName), ['app_data']);
    const long = await convertCompose(service('    volumes:\n      - {type: bind, source: ./data, target: /data}\n'));
    assert.equal(long.problems.length, 1);
    assert.match(long.problems[0], /^app\/compose\.yaml:5:9: services\.web\.volumes\[0\]: the bind source does not exist .*Compose creates a missing folder only for the short syntax \(\.\/data:\/data\), which Capstan keeps as a volume of the app \[BIND_NOT_FOUND\]$/);
  });

  it('healthcheck, restart and its Compose default, deploy.restart_policy', async () => {
    const converted = await convertCompose(
      'services:\n  job:\n    image: local/busybox:1\n  web:\n    image: local/busybox:1\n    restart: on-failure:3\n    healthcheck:\n      test: wget -q -O- localhost\n      interval: 10s\n      start_interval: 1s\n  worker:\n    image: local/busybox:1\n    deploy:\n      restart_policy:\n        condition: any\n        delay: 5s\n        max_attempts: 4\n  retried:\n    image: local/busybox:1\n    deploy:\n      restart_policy: {condition: on-failure, max_attempts: 5}\n  unlimited:\n    image: local/busybox:1\n    restart: on-failure:0\n  many:\n    image: local/busybox:1\n    restart: on-failure:5000\n  odd:\n    image: local/busybox:1\n    deploy:\n      restart_policy: {condition: on-failure, max_attempts: -1}\n',
    );
    assert.deepEqual(converted.problems, []);
    const services = converted.manifest.services as any;
    assert.equal(services.job.restart, 'no', "Compose's default, not Capstan's unless-stopped");
    assert.equal(services.web.restart, 'on-failure');
    assert.equal(services.web.restart_max_retries, 3, "on-failure:3 is Docker's MaximumRetryCount 3");
    assert.equal(services.worker.restart, 'always');
    assert.equal(services.worker.restart_max_retries, undefined);
    assert.equal(services.retried.restart, 'on-failure');
    assert.equal(services.retried.restart_max_retries, 5);
    assert.equal(services.unlimited.restart, 'on-failure');
    assert.equal(services.unlimited.restart_max_retries, undefined, 'on-failure:0 is no limit, as in Docker');
    assert.deepEqual([services.many.restart, services.many.restart_max_retries], ['on-failure', undefined], 'beyond 1000: loads as before, without a limit (noted)');
    assert.deepEqual([services.odd.restart, services.odd.restart_max_retries], ['on-failure', undefined]);
    assert.deepEqual(services.web.healthcheck, { test: 'wget -q -O- localhost', interval: '10s' });
    assert.deepEqual(converted.notes, [
      'app/compose.yaml:10:7: services.web.healthcheck.start_interval: checks run every `interval`, in the start period too',
      "app/compose.yaml:16:9: services.worker.deploy.restart_policy.delay: Docker restarts with its own back-off",
      'app/compose.yaml:17:9: services.worker.deploy.restart_policy.max_attempts: Docker limits restarts only with condition: on-failure; max_attempts has no effect here',
      'app/compose.yaml:27:14: services.many.restart: on-failure:5000 is kept only up to on-failure:1000: Docker restarts without a limit here',
      'app/compose.yaml:31:61: services.odd.deploy.restart_policy.max_attempts: max_attempts -1 is kept only from 1 to 1000: Docker restarts without a limit here',
    ]);
  });

  it('deploy: replicas, resources, update_config; rollback_config noted; placement noted; global and continue refused', async () => {
    const converted = await convertCompose(
      service(
        '    mem_limit: 1g\n    cpus: 2\n    deploy:\n      replicas: 3\n      resources:\n        limits: {cpus: "0.5", memory: 128M, pids: 100}\n        reservations: {memory: 64M, cpus: "0.1"}\n      update_config: {parallelism: 2, delay: 1s, order: stop-first, monitor: 2s, failure_action: pause, max_failure_ratio: 0.1}\n      rollback_config: {parallelism: 1}\n',
      ),
    );
    assert.deepEqual(converted.problems, []);
    const web = (converted.manifest.services as any).web;
    assert.equal(web.replicas, 3);
    assert.deepEqual(web.resources, { memory: '128M', cpus: '0.5', pids_limit: 100, memory_reservation: '64M' });
    assert.deepEqual(web.update, { parallelism: 2, delay: '1s', order: 'stop-first', monitor: '2s', failure_action: 'pause' });
    assert.deepEqual(converted.app!.services[0].resources, { nanoCpus: 500_000_000, memoryBytes: 128 * 1024 ** 2, pidsLimit: 100, memoryReservationBytes: 64 * 1024 ** 2 });
    assert.equal(converted.notes.length, 3);
    assert.match(converted.notes.join('\n'), /reservations\.cpus: no effect on one host/);
    assert.match(converted.notes.join('\n'), /max_failure_ratio: any failed replica fails the rollout/);
    assert.match(converted.notes.join('\n'), /rollback_config: a failed rollout returns the whole commit/);

    const refused = await convertCompose(service('    deploy:\n      mode: global\n      placement:\n        constraints: [node.role == manager]\n      update_config:\n        failure_action: continue\n'));
    assert.deepEqual(refused.problems, [
      'app/compose.yaml:5:13: services.web.deploy.mode: not supported by Capstan: `replicated`; `global` is refused (one agent per host places what is assigned to it) [COMPOSE_UNSUPPORTED]',
      'app/compose.yaml:9:25: services.web.deploy.update_config.failure_action: not supported by Capstan: failure_action: continue; a failed rollout is rolled back (rollback) or left as it is (pause) [COMPOSE_UNSUPPORTED]',
    ]);
    assert.match(refused.notes.join('\n'), /compose\.yaml:6:7: services\.web\.deploy\.placement: no effect, as with `docker compose up`/);
  });

  it('labels, user, working_dir, capabilities, read_only, ulimits, init, stop settings', async () => {
    const converted = await convertCompose(
      service(
        '    labels: ["a.b=c", "flag"]\n    user: "1000:1000"\n    working_dir: /srv\n    cap_drop: [ALL]\n    cap_add: [CHOWN]\n    read_only: true\n    ulimits:\n      nofile: {soft: 1024, hard: 4096}\n    init: true\n    stop_signal: SIGINT\n    stop_grace_period: 30s\n',
      ),
    );
    assert.deepEqual(converted.problems, []);
    const web = converted.app!.services[0];
    assert.deepEqual(web.labels, { 'a.b': 'c', flag: '' });
    assert.equal(web.user, '1000:1000');
    assert.equal(web.workingDir, '/srv');
    assert.deepEqual([web.capDrop, web.capAdd, web.readOnly, web.init, web.stopSignal, web.stopGracePeriodMs], [['ALL'], ['CHOWN'], true, true, 'SIGINT', 30_000]);
    assert.deepEqual(web.ulimits, [{ name: 'nofile', soft: 1024, hard: 4096 }]);
  });

  it('secrets and configs: files bind-mounted, environment and content as secret files', async () => {
    const converted = await convertCompose(
      service(
        '    secrets:\n      - db_password\n      - source: token\n        target: api_token\n        mode: 0440\n    configs:\n      - source: settings\n        target: /etc/app/settings.json\n      - motd\n',
        'secrets:\n  db_password:\n    file: ./db_password.txt\n  token:\n    environment: API_TOKEN\nconfigs:\n  settings:\n    file: ./settings.json\n  motd:\n    content: hello ${WHO}\n',
      ),
      { 'db_password.txt': 'sentinel-file-secret\n', 'settings.json': '{}\n', '.env': 'API_TOKEN=sentinel-env-secret\nWHO=world\n' },
    );
    assert.deepEqual(converted.problems, []);
    const web = (converted.manifest.services as any).web;
    assert.deepEqual(web.volumes, [
      { type: 'bind', source: './db_password.txt', target: '/run/secrets/db_password', read_only: true },
      { type: 'bind', source: './settings.json', target: '/etc/app/settings.json', read_only: true },
    ]);
    assert.deepEqual(web.secrets, { '/run/secrets/api_token': { value: '${API_TOKEN}', mode: '0440' }, '/motd': { value: 'hello ${WHO}', mode: '0444' } });
    assert.deepEqual(converted.app!.services[0].secretFiles, [
      { target: '/motd', value: 'hello world', mode: 0o444 },
      { target: '/run/secrets/api_token', value: 'sentinel-env-secret', mode: 0o440 },
    ]);
    assert.ok(converted.notes.some((note) => /secrets\.db_password\.file: this secret is a file committed in plaintext/.test(note)));
    assert.doesNotMatch([...converted.problems, ...converted.notes].join('\n'), /sentinel/);

    const undeclared = await convertCompose(service('    secrets: [nope]\n', 'secrets:\n  outside:\n    external: true\n'));
    assert.deepEqual(undeclared.problems, [
      "app/compose.yaml:4:15: services.web.secrets[0]: secret 'nope' is not declared under the top-level secrets [COMPOSE_INVALID]",
      'app/compose.yaml:7:5: secrets.outside.external: not supported by Capstan: Capstan only uses Docker objects it created itself [COMPOSE_UNSUPPORTED]',
    ]);
  });

  it('build: long form with args; image beside build is noted; unsupported build keys refused', async () => {
    const converted = await convertCompose(
      'services:\n  web:\n    image: example/web\n    build:\n      context: ./src\n      args:\n        - VERSION=1\n        - TOKEN\n      ssh: [default]\n',
      { 'src/Dockerfile': 'FROM local/busybox:1\n', '.env': 'TOKEN=t\n' },
    );
    assert.deepEqual((converted.manifest.services as any).web.build, { context: './src', args: { VERSION: '1', TOKEN: '${TOKEN}' } });
    assert.equal((converted.manifest.services as any).web.image, undefined);
    assert.deepEqual(converted.problems, ['app/compose.yaml:9:7: services.web.build.ssh: not supported by Capstan: builds get no SSH agent [COMPOSE_UNSUPPORTED]']);
    assert.ok(converted.notes.includes('app/compose.yaml:3:5: services.web.image: with build, the image is tagged capstan/<app>-<service>:<digest>; this name is not used'));
  });

  it('refused and unknown keys name file, line and key; x- keys are ignored; x-capstan fields win', async () => {
    const converted = await convertCompose(
      service('    isolation: x\n    imgae: x\n    x-notes: anything\n    x-capstan:\n      egress: false\n      update: {progress_deadline: 1m}\n    deploy:\n      update_config: {monitor: 2s}\n'),
    );
    assert.deepEqual(converted.problems, [
      'app/compose.yaml:4:5: services.web.isolation: not supported by Capstan: Windows containers only [COMPOSE_UNSUPPORTED]',
      "app/compose.yaml:5:5: services.web.imgae: 'imgae' is not a Compose key here; did you mean 'image'? [COMPOSE_UNKNOWN_KEY]",
    ]);
    const web = (converted.manifest.services as any).web;
    assert.equal(web.egress, false);
    assert.deepEqual(web.update, { monitor: '2s', progress_deadline: '1m' });
  });

  it('policy refusals of the native pipeline point at the Compose lines', async () => {
    const converted = await convertCompose(service('    privileged: true\n    volumes:\n      - /srv/data:/data\n'), {}, { policy: DEFAULT_POLICY });
    assert.equal(converted.problems.length, 3);
    assert.match(converted.problems[0], /^app\/compose\.yaml:4:17: services\.web\.privileged: .*\[POLICY_REFUSED\]$/);
    assert.match(converted.problems[1], /^app\/compose\.yaml:6:9: services\.web\.volumes\[0\]: .*\[POLICY_REFUSED\]$/);
    assert.equal(
      converted.problems[2],
      'app/compose.yaml: to admit what the host policy refused, set these lines in the policy file (--policy-file, CAPSTAN_POLICY_FILE), if you trust the repository with them: [POLICY_SNIPPET]\n    allow_privileged: true\n    bind_roots: [/srv]',
    );
  });

  it('network_mode: host, none and service: kept; bridge and container: refused', async () => {
    const converted = await convertCompose(
      'services:\n  web:\n    image: local/busybox:1\n  sidecar:\n    image: local/busybox:1\n    network_mode: service:web\n  old:\n    image: local/busybox:1\n    network_mode: container:abc\n',
    );
    assert.deepEqual(converted.problems, ['app/compose.yaml:9:19: services.old.network_mode: not supported by Capstan: network_mode: container:… (use service:<name> for a sidecar) [COMPOSE_UNSUPPORTED]']);
    assert.equal((converted.manifest.services as any).sidecar.network_mode, 'service:web');
  });

  it('depends_on: list, conditions, restart: true, and a one-shot dependency', async () => {
    const converted = await convertCompose(
      'services:\n  migrate:\n    image: local/busybox:1\n  db:\n    image: local/busybox:1\n    healthcheck: {test: "true"}\n  web:\n    image: local/busybox:1\n    depends_on:\n      db: {condition: service_healthy, restart: true}\n      migrate: {condition: service_completed_successfully}\n',
    );
    assert.deepEqual(converted.problems, []);
    assert.deepEqual(converted.app!.services.find((each) => each.name === 'web')!.dependsOn, [
      { service: 'db', condition: 'service_healthy', restart: true },
      { service: 'migrate', condition: 'service_completed_successfully' },
    ]);
    assert.deepEqual(converted.notes, []);
  });
});
