import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runCapstan } from '../helpers/cli.js';
import { docker, exec, listManaged, uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';
import type { TempDir } from '../helpers/paths.js';

// Issue 5, host policy: the repository is a trust boundary, so what a manifest may ask of the host
// is the host's decision. Every refusal names file, line and the policy setting that allows it.

const SLEEPER = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;

/** Each service asks for one thing the default policy refuses; the value is the key that asks. */
const REQUESTS: Record<string, { field: string; setting: RegExp }> = {
  privileged: { field: 'privileged: true', setting: /privileged mode is refused by host policy; set allow_privileged: true in the policy file/ },
  hostnet: { field: 'network_mode: host', setting: /network_mode: host\) is refused by host policy; set allow_host_network: true/ },
  hostpid: { field: 'pid: host', setting: /pid: host\) is refused by host policy; set allow_host_pid: true/ },
  socket: { field: 'volumes: ["/var/run/docker.sock:/var/run/docker.sock"]', setting: /the Docker socket \(\/var\/run\/docker.sock\) is refused by host policy; set allow_docker_socket: true/ },
  devices: { field: 'devices: ["/dev/fuse"]', setting: /access to host devices is refused by host policy; set allow_devices: true/ },
  caps: { field: 'cap_add: [NET_ADMIN]', setting: /capabilities beyond Docker's default set \(NET_ADMIN\) is refused by host policy; set allowed_capabilities: \[NET_ADMIN\]/ },
  hostpath: { field: 'volumes: ["/srv/capstan-test:/data"]', setting: /host path \/srv\/capstan-test is refused by host policy; set bind_roots: \[\/srv\]/ },
  runtime: { field: 'runtime: nvidia', setting: /runtime 'nvidia' is refused by host policy; set allowed_runtimes: \[nvidia\]/ },
};

function service(name: string, field: string): string {
  return `  ${name}:\n    image: local/busybox:1\n    command: ${SLEEPER}\n    ${field}\n    update: { monitor: 1s }\n`;
}

describe('spec: host policy', () => {
  const agent = sharedAgent({ repoName: 'policy' });
  const { node } = agent;
  const app = uniqueName('greedy');
  let host: TempDir;
  const capstan = (args: string[], env: Record<string, string> = {}) =>
    runCapstan(args, { timeoutMs: 180_000, env: agent.env({ ...env }) });
  const push = async (files: Record<string, string | null>, message: string) => {
    await agent.repo.write(files);
    await agent.repo.commit(message);
    await agent.repo.push();
  };

  before(async () => {
    host = await agent.tempDir('capstan-policy-host');
  });

  // After the label cleanup, whatever it meets.
  agent.defer(async () => {
    await host?.cleanup();
  });

  it('refuses each request by default, naming file, line and the setting that would allow it', async () => {
    const manifest = `app: ${app}\nservices:\n` + Object.entries(REQUESTS).map(([name, request]) => service(name, request.field)).join('');
    await push({ [`${app}.yaml`]: manifest }, 'asks for everything');
    const result = await capstan(['once']);
    assert.equal(result.code, 1);
    const lines = manifest.split('\n');
    for (const [name, request] of Object.entries(REQUESTS)) {
      const line = lines.findIndex((text, index) => text.trim() === request.field && lines[index - 3] === `  ${name}:`) + 1;
      assert.ok(line > 0, `${name} is in the manifest`);
      const problem = result.stderr.split('\n').find((text) => text.includes(`${app}.yaml:${line}:`));
      assert.ok(problem, `a problem at ${app}.yaml:${line} (${name})\n${result.stderr}`);
      assert.match(problem, request.setting, name);
      assert.match(problem, /\(--policy-file, CAPSTAN_POLICY_FILE\) to allow it \[POLICY_REFUSED\]/);
    }
    // The error is printed and logged: count the places, not the lines.
    const places = new Set(result.stderr.match(new RegExp(`${app}\\.yaml:\\d+:\\d+: [^ ]+: [^\\n]*?\\[POLICY_REFUSED\\]`, 'g')));
    assert.equal(places.size, Object.keys(REQUESTS).length, [...places].join('\n'));
    assert.deepEqual(await listManaged(node), [], 'nothing was created');
  });

  it('deploys what the host policy file allows', async () => {
    const data = join(host.path, 'data');
    await mkdir(data);
    await writeFile(join(data, 'greeting'), 'from the host\n');
    const policy = join(host.path, 'policy.yaml');
    await writeFile(policy, `allowed_capabilities: [NET_ADMIN]\nbind_roots: [${host.path}]\n`);
    const manifest = `app: ${app}\nservices:\n` + service('caps', REQUESTS.caps.field) + service('hostpath', `volumes: ["${data}:/data:ro"]`);
    await push({ [`${app}.yaml`]: manifest }, 'asks for what the policy allows');

    const refused = await capstan(['once']);
    assert.equal(refused.code, 1, 'the default policy still refuses it');
    const validate = await runCapstan(['validate', agent.repo.workDir, '--policy-file', policy]);
    assert.equal(validate.code, 0, validate.stderr);
    const result = await capstan(['once'], { CAPSTAN_POLICY_FILE: policy });
    assert.equal(result.code, 0, result.stderr);
    const containers = await listManaged(node);
    const caps = await docker.getContainer(containers.find((container) => container.service === 'caps')!.id).inspect();
    assert.deepEqual(caps.HostConfig.CapAdd, ['NET_ADMIN']);
    const reader = containers.find((container) => container.service === 'hostpath')!;
    assert.equal((await exec(reader.id, ['cat', '/data/greeting'])).stdout, 'from the host\n');
  });

  it('a broken policy file is a clear error, and nothing changes', async () => {
    // A head commit to read (the repository is empty when this test runs alone): one plain service.
    await push({ [`${app}.yaml`]: `app: ${app}\nservices:\n` + service('plain', 'environment: { PLAIN: "yes" }') }, 'a plain service');
    const before = (await listManaged(node)).map((container) => container.id);
    const policy = join(host.path, 'broken.yaml');
    await writeFile(policy, 'allow_privileged: yes please\nbind_root: [/srv]\n');
    const result = await capstan(['once'], { CAPSTAN_POLICY_FILE: policy });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /POLICY_INVALID|policy file .*broken\.yaml is invalid/);
    assert.deepEqual((await listManaged(node)).map((container) => container.id), before);
  });
});
