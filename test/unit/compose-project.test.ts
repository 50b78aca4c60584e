import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { encryptEnv, newKeyringKey, type Keyring } from '../../secrets/index.js';
import { cleanupCheckouts, convertCompose, convertFiles } from './compose-helpers.js';

// The project around the services: files, name, variables, override, extends, profiles,
// anchors, networks and volumes.

const key = newKeyringKey(Date.now());
const keyring: Keyring = { source: 'test', keys: [key], primary: key };
const web = 'services:\n  web:\n    image: local/busybox:1\n';

describe('Compose projects', () => {
  after(cleanupCheckouts);

  it('names the app by COMPOSE_PROJECT_NAME, else name:, else the folder', async () => {
    const byFolder = await convertFiles({ 'My.Shop/compose.yaml': web }, { folder: 'My.Shop' });
    assert.equal(byFolder.app?.name, 'myshop');
    const byName = await convertCompose(`name: store\n${web}`);
    assert.equal(byName.app?.name, 'store');
    const byEnv = await convertCompose(`name: store\n${web}`, { '.env': 'COMPOSE_PROJECT_NAME=boutique\n' });
    assert.equal(byEnv.app?.name, 'boutique');
    assert.ok(byEnv.notes.includes('app/compose.yaml:1:1: name: COMPOSE_PROJECT_NAME in .env names the app instead'));
  });

  it('reads compose.yaml before docker-compose.yml, and needs a Compose file beside an override', async () => {
    const both = await convertFiles({ 'app/compose.yaml': web, 'app/docker-compose.yml': 'services: {other: {image: x}}\n' });
    assert.deepEqual(both.app?.services.map((service) => service.name), ['web']);
    assert.deepEqual(both.notes, ['app/docker-compose.yml: not read: Compose reads compose.yaml in this folder first']);
    const alone = await convertFiles({ 'app/compose.override.yaml': web });
    assert.deepEqual(alone.problems, ["app/compose.override.yaml: an override file needs a Compose file beside it (compose.yaml); Capstan reads the folder as Compose does [COMPOSE_NO_FILE]"]);
  });

  it('merges compose.override.yaml by Compose rules, and its problems name the override file', async () => {
    const converted = await convertCompose(
      'services:\n  web:\n    image: local/busybox:1\n    command: [a, b]\n    environment: {A: "1", B: "2"}\n    labels: [x=1, y=2]\n    ports: ["8001:80"]\n    volumes: ["data:/data"]\n    cap_add: [CHOWN]\nvolumes:\n  data:\n',
      {
        'compose.override.yaml':
          'services:\n  web:\n    command: [c]\n    environment: [B=3, C=4]\n    labels:\n      y: !reset null\n    ports: ["8002:81"]\n    volumes: ["data:/data:ro"]\n    cap_add: [CHOWN, KILL]\n    tty: true\n',
      },
    );
    const merged = (converted.manifest.services as any).web;
    assert.deepEqual(merged.command, ['c']);
    assert.deepEqual(merged.environment, { A: '1', B: '3', C: '4' });
    assert.deepEqual(merged.labels, { x: '1' });
    assert.deepEqual(merged.ports, ['8001:80', '8002:81']);
    assert.deepEqual(merged.volumes, ['data:/data:ro']);
    assert.deepEqual(merged.cap_add, ['CHOWN', 'KILL']);
    assert.deepEqual(converted.problems, []);
    assert.equal(converted.app!.services[0].tty, true, 'a key only the override sets');
  });

  it('resolves extends within the file; cycles, unknown services and missing files are errors', async () => {
    const chain = await convertCompose(
      'services:\n  base:\n    image: local/busybox:1\n    environment: {A: "1"}\n  mid:\n    extends: base\n    environment: {B: "2"}\n  top:\n    extends: {service: mid}\n    command: [x]\n',
    );
    assert.deepEqual(chain.problems, []);
    assert.deepEqual((chain.manifest.services as any).top, { image: 'local/busybox:1', command: ['x'], environment: { A: '1', B: '2' }, restart: 'no' });
    const broken = await convertCompose(
      'services:\n  a:\n    extends: b\n    image: x\n  b:\n    extends: a\n  c:\n    extends: nope\n    image: x\n  d:\n    extends: {file: other.yaml, service: x}\n    image: x\n',
    );
    assert.deepEqual(broken.problems, [
      "app/compose.yaml:3:5: services.a.extends: extends forms a cycle through 'a' [COMPOSE_EXTENDS_CYCLE]",
      "app/compose.yaml:8:14: services.c.extends: there is no service 'nope' in this file to extend [COMPOSE_EXTENDS_UNKNOWN]",
      // Another file of the repository may be extended (issue 23); this one is not there.
      "app/compose.yaml:11:21: services.d.extends.file: 'other.yaml' does not exist in the repository (paths start from app) [COMPOSE_FILE_NOT_FOUND]",
    ]);
  });

  it('runs only the services whose profiles COMPOSE_PROFILES enables; * enables all', async () => {
    const compose = 'services:\n  web:\n    image: local/busybox:1\n  debug:\n    image: local/busybox:1\n    profiles: [debug]\n  tools:\n    image: local/busybox:1\n    profiles: [ops, tools]\n';
    const none = await convertCompose(compose);
    assert.deepEqual(none.app?.services.map((service) => service.name), ['web']);
    assert.equal(none.notes.length, 2);
    const ops = await convertCompose(compose, { '.env': 'COMPOSE_PROFILES=ops\n' });
    assert.deepEqual(ops.app?.services.map((service) => service.name), ['tools', 'web']);
    const all = await convertCompose(compose, { '.env': 'COMPOSE_PROFILES=*\n' });
    assert.deepEqual(all.app?.services.map((service) => service.name), ['debug', 'tools', 'web']);
    const needed = await convertCompose(compose.replace('  web:\n    image: local/busybox:1\n', '  web:\n    image: local/busybox:1\n    depends_on: [debug]\n'));
    assert.deepEqual(needed.problems, [
      "app/compose.yaml:4:18: services.web.depends_on[0]: 'debug' is left out (profile debug not in COMPOSE_PROFILES), but this service needs it; add its profile to COMPOSE_PROFILES or mark the dependency required: false [COMPOSE_PROFILE_DEPENDENCY]",
    ]);
  });

  it('anchors and merge keys: inherited values point at the line that defines them', async () => {
    const converted = await convertCompose('x-base: &base\n  image: local/busybox:1\n  security_opt: [apparmor=unconfined]\nservices:\n  web:\n    <<: *base\n  api:\n    <<: *base\n    image: local/other:1\n');
    assert.deepEqual(converted.problems, [
      'app/compose.yaml:3:18: services.web.security_opt[0]: security option apparmor=unconfined is refused by host policy; set allowed_security_opts: [apparmor=unconfined] in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it [POLICY_REFUSED]',
      'app/compose.yaml:3:18: services.api.security_opt[0]: security option apparmor=unconfined is refused by host policy; set allowed_security_opts: [apparmor=unconfined] in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it [POLICY_REFUSED]',
      'app/compose.yaml: to admit what the host policy refused, set these lines in the policy file (--policy-file, CAPSTAN_POLICY_FILE), if you trust the repository with them: [POLICY_SNIPPET]\n    allowed_security_opts: [apparmor=unconfined]',
    ]);
    assert.equal((converted.manifest.services as any).api.image, 'local/other:1');
  });

  it('.env: plaintext with a note, or encrypted and decrypted with the key file; values reach no message', async () => {
    const compose = 'services:\n  web:\n    image: local/busybox:${TAG}\n    environment: {PASSWORD: "${PASSWORD}"}\n';
    const plain = await convertCompose(compose, { '.env': 'TAG=1\nPASSWORD=sentinel-plain\n' });
    assert.deepEqual(plain.problems, []);
    assert.equal(plain.app?.services[0].image, 'local/busybox:1');
    assert.match(plain.notes[0], /^app\/\.env: plaintext env file, read as Compose does/);

    const encrypted = encryptEnv({ values: { TAG: '1', PASSWORD: 'sentinel-encrypted' }, repoPath: 'app/.env', keyring });
    const decrypted = await convertCompose(compose, { '.env': encrypted }, { keyring });
    assert.deepEqual(decrypted.problems, []);
    assert.equal(decrypted.app?.services[0].environment.PASSWORD, 'sentinel-encrypted');
    assert.deepEqual(decrypted.notes, []);
    assert.deepEqual(decrypted.manifest.env_files, ['.env']);

    const noKey = await convertCompose(compose, { '.env': encrypted });
    assert.deepEqual(noKey.problems, ["app/.env: env file 'app/.env' cannot be decrypted: no key file is configured; pass --key-file or set CAPSTAN_KEY_FILE [SECRETS_NO_KEY]"]);
    const unchecked = await convertCompose(compose, { '.env': encrypted }, { unchecked: true });
    assert.deepEqual(unchecked.problems, []);
    for (const result of [plain, decrypted, noKey, unchecked]) assert.doesNotMatch([...result.problems, ...result.notes].join('\n'), /sentinel/);
  });

  it('networks: declared ones are the app\'s, with aliases and container_name; internal defaults refused, external networks joined', async () => {
    const converted = await convertCompose(
      'services:\n  proxy:\n    image: local/busybox:1\n    networks: [front]\n  app:\n    image: local/busybox:1\n    container_name: my-app\n    networks:\n      front:\n      back:\n        aliases: [api]\n  db:\n    image: local/busybox:1\n    networks: [back]\nnetworks:\n  front:\n  back:\n    internal: true\n',
    );
    assert.deepEqual(converted.problems, []);
    assert.deepEqual(converted.app?.networks, [
      { name: 'back', internal: true },
      { name: 'front', internal: false },
    ]);
    const app = converted.app!.services.find((service) => service.name === 'app')!;
    assert.deepEqual(app.networks, [
      { network: 'back', aliases: ['api', 'my-app'] },
      { network: 'front', aliases: ['my-app'] },
    ]);

    const refused = await convertCompose(
      'services:\n  web:\n    image: local/busybox:1\n    networks: [shared, default]\nnetworks:\n  shared:\n    external: true\n    name: proxy\n  default:\n    internal: true\n',
    );
    // An external network is joined (issue 23); only the internal default is refused, with no follow-on error.
    assert.deepEqual(refused.problems, [
      "app/compose.yaml:10:5: networks.default.internal: not supported by Capstan: an internal default network; the app's default network keeps its way out: declare another network with internal: true and list it under the services [COMPOSE_UNSUPPORTED]",
    ]);
  });

  it('volumes: several writers make a volume shared unless x-capstan says otherwise; odd names keep their Docker name', async () => {
    const shared = await convertCompose('services:\n  a:\n    image: x\n    volumes: [data:/d]\n  b:\n    image: x\n    volumes: ["data:/d"]\n  c:\n    image: x\n    volumes: [logs:/l:ro]\nvolumes:\n  data:\n  logs:\n');
    assert.deepEqual(shared.manifest.volumes, { data: { shared: true }, logs: {} });
    const single = await convertCompose('services:\n  a:\n    image: x\n    volumes: [data:/d]\n  b:\n    image: x\n    volumes: ["data:/d"]\nvolumes:\n  data:\n    x-capstan: {shared: false}\n');
    assert.match(single.problems.join('\n'), /VOLUME_SINGLE_WRITER/);
    const dotted = await convertCompose('services:\n  a:\n    image: x\n    volumes: [etc.d:/etc/d]\nvolumes:\n  etc.d:\n');
    assert.deepEqual(dotted.problems, []);
    assert.deepEqual(dotted.app?.volumes.map((volume) => [volume.name, volume.dockerName]), [['etc-d', 'app_etc.d']]);
  });

  it('version and other keys without effect are noted; the notes reach the desired state', async () => {
    const converted = await convertCompose(`version: "3.9"\n${web}    expose: ["80"]\n    logging: {driver: journald}\n`);
    assert.deepEqual(converted.problems, []);
    assert.deepEqual(converted.state?.notes, [
      'app/compose.yaml:1:1: version: obsolete in the Compose Specification; ignored',
      'app/compose.yaml:5:5: services.web.expose: no effect: services reach every port of the services they share a network with',
    ]);
  });

  it('top-level x-capstan adds native app fields', async () => {
    const converted = await convertCompose(`${web}x-capstan:\n  uses: [db]\n`);
    assert.deepEqual(converted.manifest.uses, ['db']);
    assert.match(converted.problems.join('\n'), /db/, 'the grant is checked by the native pipeline: app db does not exist');
  });
});
