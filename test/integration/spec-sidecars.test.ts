import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCapstan } from '../helpers/cli.js';
import { exec, listManaged, removeContainer, uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';

// Issue 5, sidecars: `network_mode: service:web` puts replica n of the sidecar in the network
// namespace of replica n of web, as containers of one Kubernetes pod; replacing web replaces it.

function manifest(app: string, version: string): string {
  return `app: ${app}
services:
  web:
    image: local/busybox:1
    # Serves its own hostname, so a sidecar can tell which replica it shares a namespace with.
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
    environment: { VERSION: "${version}" }
    replicas: 2
    update: { monitor: 1s }
  proxy:
    image: local/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    network_mode: service:web
    update: { monitor: 1s }
`;
}

describe('spec: sidecars share the network namespace of their parent', () => {
  const agent = sharedAgent({ repoName: 'sidecars' });
  const { node } = agent;
  const app = uniqueName('pod');
  const capstan = (...args: string[]) => runCapstan(args, { timeoutMs: 180_000, env: agent.env() });
  const ids = async () => Object.fromEntries((await listManaged(node)).map((container) => [container.name, container.id]));
  const deploy = async (version: string) => {
    await agent.repo.write({ [`${app}.yaml`]: manifest(app, version) });
    await agent.repo.commit(version);
    await agent.repo.push();
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
  };
  /** Each proxy replica fetches 127.0.0.1:8080 and must get the hostname (short id) of the web replica with its number. */
  const assertPaired = async () => {
    const current = await ids();
    for (const replica of [1, 2]) {
      const reply = await exec(current[`${app}-proxy-${replica}`], ['sh', '-c', 'timeout -s KILL 5 wget -q -O /tmp/page http://127.0.0.1:8080/ && cat /tmp/page']);
      assert.equal(reply.exitCode, 0, reply.stderr);
      assert.equal(reply.stdout.trim(), current[`${app}-web-${replica}`].slice(0, 12), `proxy-${replica} shares the namespace of web-${replica}`);
    }
    return current;
  };

  it('runs one sidecar per parent replica, reaching it on 127.0.0.1', async () => {
    await deploy('v1');
    const current = await assertPaired();
    assert.deepEqual(Object.keys(current).sort(), [1, 2].flatMap((replica) => [`${app}-proxy-${replica}`, `${app}-web-${replica}`]).sort());
  });

  it('replaces the sidecars when their parent is replaced', async () => {
    const before = await ids();
    await deploy('v2');
    const current = await assertPaired();
    for (const name of Object.keys(before)) assert.notEqual(current[name], before[name], `${name} was replaced`);
  });

  it('follows a parent recreated after drift', async () => {
    const before = await ids();
    await removeContainer(before[`${app}-web-1`]);
    const plan = await capstan('plan');
    assert.match(plan.stdout, new RegExp(`create container ${app}-proxy-1--next\\s+parent web has a new container`));
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const current = await assertPaired();
    assert.notEqual(current[`${app}-proxy-1`], before[`${app}-proxy-1`]);
    assert.equal(current[`${app}-proxy-2`], before[`${app}-proxy-2`], 'the other pair is untouched');
  });
});
