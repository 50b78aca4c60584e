import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { runCapstan } from '../helpers/cli.js';
import { docker, listManaged, testLabels, uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';
import { repoRoot } from '../helpers/paths.js';

// Corpus apps (test/fixtures/compose) run on the real engine as their Compose files are, with
// only what a test host cannot have substituted: every image is local/busybox:1 sleeping, host
// ports are dropped (other tests share the engine), health checks always pass, and the VPN's
// capability and device are dropped. Anonymous volumes, an external network, network_mode:
// service:, extends.file, include and declared networks all go through the real cycle.

const TOKEN = 'test-token-c0rpu5';
const CORPUS = join(repoRoot(), 'test', 'fixtures', 'compose');
const APPS = ['actual-budget', 'homepage', 'node-red', 'radarr-sonarr', 'n8n', 'qbittorrent-gluetun', 'gotify', 'wikijs'];
const SLEEP = ['sh', '-c', "trap 'exit 0' TERM; sleep 3600 & wait"];
const COMPOSE_FILE = /\.ya?ml$/;

function substitute(text: string, externalNetwork: string): string {
  const project = parse(text) as Record<string, any>;
  for (const service of Object.values<Record<string, unknown>>(project.services ?? {})) {
    service.image = 'local/busybox:1';
    service.command = SLEEP;
    for (const key of ['ports', 'cap_add', 'devices', 'entrypoint']) delete service[key];
    if (service.healthcheck) service.healthcheck = { test: ['CMD', 'true'], interval: '1s' };
  }
  if (project.networks?.proxy?.external) project.networks.proxy.name = externalNetwork;
  return stringify(project);
}

function folderFiles(name: string, externalNetwork: string, prefix: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (relative: string) => {
    for (const entry of readdirSync(join(CORPUS, name, relative))) {
      const path = join(relative, entry);
      if (statSync(join(CORPUS, name, path)).isDirectory()) walk(path);
      else if (/^expected|host-policy/.test(entry)) continue;
      else {
        const text = readFileSync(join(CORPUS, name, path), 'utf8');
        const isCompose = COMPOSE_FILE.test(entry) && relative === '' ;
        files[`apps/${prefix}${name}/${path}`] = isCompose ? substitute(text, externalNetwork) : text;
      }
    }
  };
  walk('');
  return files;
}

describe('corpus apps end to end', () => {
  const agent = sharedAgent({ token: TOKEN, repoName: 'corpus' });
  const { node } = agent;
  const prefix = `${uniqueName('e')}-`;
  const externalNetwork = uniqueName('proxy');

  before(async () => {
    await docker.createNetwork({ Name: externalNetwork, Driver: 'bridge', Labels: testLabels() });
  });

  // After the label cleanup, whatever it meets.
  agent.defer(async () => {
    await docker.getNetwork(externalNetwork).remove().catch(() => undefined);
  });

  it(`runs ${APPS.length} corpus apps with one cycle`, async () => {
    let files: Record<string, string> = {};
    for (const name of APPS) files = { ...files, ...folderFiles(name, externalNetwork, prefix) };
    await agent.repo.write(files);
    await agent.repo.commit('corpus apps');
    await agent.repo.push();
    const once = () =>
      runCapstan(['once'], {
        timeoutMs: 300_000,
        env: agent.env({ CAPSTAN_PATH: 'apps' }),
      });
    // Docker 20.10 briefly drops its isolation jump while networks are being created (see
    // agent/targets/containers/execute-isolation.ts); Capstan then starts no replica there and the next cycle
    // finishes the job. At most three cycles.
    let result = await once();
    for (let attempt = 1; attempt < 3 && result.code !== 0 && /is not isolated/.test(result.stderr); attempt++) result = await once();
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const running = (await listManaged(node)).filter((container) => container.state === 'running').map((container) => container.name);
    for (const name of APPS) assert.ok(running.some((container) => container.startsWith(`${prefix}${name}-`)), `${name}: ${running.join(', ')}`);
    const qbittorrent = running.find((container) => container === `${prefix}qbittorrent-gluetun-qbittorrent-1`);
    assert.ok(qbittorrent);
    const inspected = await docker.getContainer(qbittorrent).inspect();
    assert.match(inspected.HostConfig.NetworkMode ?? '', /^container:/);
    const homepage = await docker.getContainer(`${prefix}homepage-homepage-1`).inspect();
    assert.ok(Object.keys(homepage.NetworkSettings.Networks).includes(externalNetwork));
    const volumes = (await docker.listVolumes({ filters: { label: [`capstan.node=${node}`, 'capstan.service=actual_server'] } })).Volumes ?? [];
    assert.equal(volumes.length, 1, 'the anonymous node_modules volume of the one replica');
  });
});
