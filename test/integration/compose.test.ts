import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { docker, exec, uniqueName } from '../helpers/docker.js';
import { agentFor, SLEEPER as SLEEP, type Agent } from '../helpers/fixture.js';

// Compose folders committed as they are, end to end: the test git server, the built CLI and the
// real Docker engine. The shop is corpus-like (a database gated by its healthcheck, a web
// service built from the repository, networks with an internal one, an alias, a container_name);
// the notes app uses .env, an override file and a secret file. The last commit adds a refused
// key, which must stop the whole commit. (Compose keys of one host: compose-fidelity.test.ts.)

const TOKEN = 'test-token-c0mp05e';

function shopCompose(shop: string, extra = ''): string {
  return `name: ${shop}
services:
  db:
    image: local/busybox:1
    # Ready only after two seconds: a web started before that would not see the file.
    command: ["sh", "-c", "mkdir -p /data && sleep 2 && echo ok > /data/ready; httpd -f -p 5432 -h /data"]
    volumes: [dbdata:/data]
    networks:
      back:
        aliases: [database]
    healthcheck:
      test: ["CMD-SHELL", "test -f /data/ready"]
      interval: 1s
      retries: 30
  web:
    build: ./web
    container_name: ${shop}-frontend
    command: ["sh", "-c", "wget -q -O /www/seen http://database:5432/ready; httpd -f -p 8080 -h /www"]
    networks: [front, back]
    depends_on:
      db:
        condition: service_healthy
    deploy:
      update_config:
        monitor: 1s
${extra}  probe:
    image: local/busybox:1
    command: ${SLEEP}
    networks: [front]
networks:
  front:
  back:
    internal: true
volumes:
  dbdata:
`;
}

function notesFiles(notes: string, greeting: string): Record<string, string> {
  return {
    [`apps/${notes}/compose.yaml`]: `services:
  app:
    image: local/busybox:1
    command: ${SLEEP}
    environment:
      - GREETING=\${GREETING}
    secrets: [token]
secrets:
  token:
    file: ./token.txt
`,
    [`apps/${notes}/compose.override.yaml`]: 'services:\n  app:\n    environment:\n      - MODE=override\n',
    [`apps/${notes}/.env`]: `GREETING=${greeting}\n`,
    [`apps/${notes}/token.txt`]: 'file-token\n',
  };
}

describe('Compose folders deployed end to end', () => {
  const options = { app: 'cshop', token: TOKEN, timeoutMs: 180_000, env: { CAPSTAN_PATH: 'apps' } };
  const byName = async (agent: Agent) => Object.fromEntries((await agent.managed()).map((container) => [container.name, container]));

  it('deploys Compose folders: built image, networks, alias, volume, healthcheck-gated depends_on', async (t) => {
    const agent = await agentFor(t, options);
    const { app: shop, node } = agent;
    const notes = uniqueName('cnotes');
    agent.defer(async () => {
      const images = await docker.listImages({ filters: { reference: [`capstan/${shop}-*`] } });
      for (const image of images) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
    });
    await agent.push({
      [`apps/${shop}/compose.yaml`]: shopCompose(shop),
      [`apps/${shop}/web/Dockerfile`]: 'FROM local/busybox:1\nRUN mkdir -p /www && echo built > /www/index.html\n',
      ...notesFiles(notes, 'hello'),
    }, 'add two Compose apps');

    const plan = await agent.capstan('plan');
    assert.equal(plan.code, 2, plan.stdout + plan.stderr);
    assert.match(plan.stdout, new RegExp(`note: apps/${notes}/\\.env: plaintext env file`));

    const result = await agent.capstan('once');
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const containers = await byName(agent);
    assert.deepEqual(Object.keys(containers).sort(), [`${notes}-app-1`, `${shop}-db-1`, `${shop}-probe-1`, `${shop}-web-1`].sort());
    for (const container of Object.values(containers)) assert.equal(container.state, 'running', container.name);
    assert.match(containers[`${shop}-web-1`].image, new RegExp(`^capstan/${shop}-web:`));

    const networks = await docker.listNetworks({ filters: { label: [`capstan.node=${node}`] } });
    const internal = Object.fromEntries(networks.map((network) => [network.Name, network.Internal]));
    assert.equal(internal[`${shop}_back`], true);
    assert.equal(internal[`${shop}_front`], false);
    const volumes = await docker.listVolumes({ filters: { label: [`capstan.node=${node}`] } });
    assert.ok((volumes.Volumes ?? []).some((volume) => volume.Name === `${shop}_dbdata`));

    // web started only once db was healthy: its first request to db's alias found the file.
    const seen = await exec(containers[`${shop}-web-1`].id, ['cat', '/www/seen']);
    assert.equal(seen.stdout.trim(), 'ok', seen.stderr);
    // probe shares only `front` with web, whose container_name is an alias there; db it cannot see.
    // (No `wget -T`: the test image's static busybox crashes with it.)
    const page = await exec(containers[`${shop}-probe-1`].id, ['wget', '-q', '-O', '-', `http://${shop}-frontend:8080/`]);
    assert.equal(page.stdout.trim(), 'built', JSON.stringify(page));
    const hidden = await exec(containers[`${shop}-probe-1`].id, ['wget', '-q', '-O', '-', 'http://db:5432/ready']);
    assert.match(hidden.stderr, /bad address/, 'db is on the back network only');

    const app = containers[`${notes}-app-1`].id;
    const environment = await exec(app, ['sh', '-c', 'echo "$GREETING $MODE"; cat /run/secrets/token']);
    assert.equal(environment.stdout, 'hello override\nfile-token\n');
  });

  it('a refused key stops the whole commit; the running apps stay as they are', async (t) => {
    const agent = await agentFor(t, options);
    const { app: shop } = agent;
    const notes = uniqueName('cnotes');
    await agent.push(notesFiles(notes, 'hello'), 'the notes app');
    const deployed = await agent.capstan('once');
    assert.equal(deployed.code, 0, deployed.stderr);
    const before = await agent.ids();
    await agent.push({
      [`apps/${shop}/compose.yaml`]: shopCompose(shop, '    isolation: process\n'),
      ...notesFiles(notes, 'changed'),
    }, 'harden web');

    const result = await agent.capstan('once');
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`apps/${shop}/compose\\.yaml:26:5: services\\.web\\.isolation: not supported by Capstan`));
    assert.deepEqual(await agent.ids(), before, 'nothing of the commit is applied, not even the notes app change');
    const status = JSON.parse((await agent.capstan('status', '--json')).stdout);
    assert.equal(status.lastError.code, 'MANIFEST_INVALID');
  });
});
