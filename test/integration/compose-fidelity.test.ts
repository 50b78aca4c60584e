import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runCapstan } from '../helpers/cli.js';
import { docker, exec, listManaged, uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';

// Compose keys of one Docker host, end to end on the real engine: what the file says is what the
// container has inside (/etc/hostname, /etc/hosts, /etc/resolv.conf, /proc/sys), a changed key
// replaces the container, and what the host policy refuses stops the commit with the
// policy-file lines that would admit it, which, once in the policy file, do admit it.

const TOKEN = 'test-token-f1del1ty';
const SLEEP = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;

function compose(hostname: string, extra = ''): string {
  return `services:
  Web:
    image: local/busybox:1
    command: ${SLEEP}
    hostname: ${hostname}
    domainname: example.org
    extra_hosts:
      - "db.local:10.0.0.5"
      - "host.docker.internal:host-gateway"
    dns: 192.0.2.53
    dns_search: [corp.example]
    dns_opt: ["ndots:3"]
    init: \${INIT:-true}
    read_only: \${RO:-false}
    tty: true
    stdin_open: true
    shm_size: 32m
    stop_signal: SIGINT
    oom_score_adj: 100
    logging:
      driver: json-file
      options: {max-size: 1m, max-file: 2}
    sysctls:
      net.core.somaxconn: 1000
    security_opt: [no-new-privileges:true]
    mac_address: 02:42:ac:11:65:43
    cpuset: "0"
    cpu_shares: 512
    mem_limit: 64m
    memswap_limit: 128m
    group_add: [1234]
    ipc: shareable
    cgroup: private
    volumes:
      - /etc/localtime:/etc/localtime:ro
      - ./conf:/conf:ro,z
      - data:/data:nocopy
${extra}volumes:
  data:
`;
}

describe('Compose keys of one Docker host, inside the running container', () => {
  const agent = sharedAgent({ token: TOKEN, repoName: 'fidelity' });
  const { node } = agent;
  const app = uniqueName('cfid');
  let policyFile: string;
  const capstan = (...args: string[]) =>
    runCapstan(args, {
      timeoutMs: 180_000,
      env: agent.env({ CAPSTAN_PATH: 'apps', CAPSTAN_POLICY_FILE: policyFile }),
    });
  const web = async () => (await listManaged(node)).find((container) => container.name === `${app}-web-1`);

  before(async () => {
    policyFile = join(agent.state.path, 'policy.yaml');
    writeFileSync(policyFile, '{}\n');
    // The app as first deployed: the first test reads it, the others change it.
    await agent.repo.write({ [`apps/${app}/compose.yaml`]: compose('web1'), [`apps/${app}/conf/app.ini`]: 'greeting=hi\n' });
    await agent.repo.commit('add the app');
    await agent.repo.push();
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  it('hostname, extra_hosts, dns options and sysctls are what the container sees', async () => {
    const container = await web();
    assert.ok(container, 'the service named Web runs as <app>-web-1');
    assert.equal(container.state, 'running');

    const files = await exec(container.id, [
      'sh',
      '-c',
      'cat /etc/hostname; echo ---; cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; cat /proc/sys/net/core/somaxconn; echo ---; cat /sys/class/net/eth0/address /conf/app.ini',
    ]);
    const [hostname, hosts, resolv, somaxconn, mounted] = files.stdout.split('---\n');
    assert.equal(mounted, '02:42:ac:11:65:43\ngreeting=hi\n', 'the MAC address, and the repository file mounted with :z (Binds)');
    assert.equal(hostname.trim(), 'web1', files.stderr);
    assert.match(hosts, /^10\.0\.0\.5\s+db\.local$/m);
    assert.match(hosts, /^\d+\.\d+\.\d+\.\d+\s+host\.docker\.internal$/m, 'host-gateway resolved by Docker to the host address');
    assert.match(resolv, /^search corp\.example$/m);
    assert.match(resolv, /^options .*ndots:3/m);
    assert.equal(somaxconn.trim(), '1000');

    const inspect = await docker.getContainer(container.id).inspect();
    assert.equal(inspect.Config.Domainname, 'example.org');
    assert.deepEqual([inspect.Config.Tty, inspect.Config.OpenStdin, (inspect.Config as { StopSignal?: string }).StopSignal], [true, true, 'SIGINT']);
    const host = inspect.HostConfig;
    assert.deepEqual(host.Dns, ['192.0.2.53'], 'the embedded DNS forwards to it; resolv.conf names 127.0.0.11');
    assert.deepEqual([host.Init, host.ReadonlyRootfs, host.ShmSize, host.OomScoreAdj], [true, false, 32 * 1024 ** 2, 100]);
    assert.deepEqual(host.LogConfig, { Type: 'json-file', Config: { 'max-file': '2', 'max-size': '1m' } });
    assert.deepEqual(host.SecurityOpt, ['no-new-privileges=true']);
    assert.equal(host.CpusetCpus, '0');
    assert.deepEqual([host.CpuShares, host.Memory, host.MemorySwap, host.GroupAdd, host.IpcMode, (host as { CgroupnsMode?: string }).CgroupnsMode], [512, 64 * 1024 ** 2, 128 * 1024 ** 2, ['1234'], 'shareable', 'private']);
    const groups = await exec(container.id, ['sh', '-c', 'id -G']);
    assert.ok(groups.stdout.split(/\s+/).includes('1234'), `group 1234 is a supplementary group: ${JSON.stringify(groups)}`);
    assert.deepEqual(host.Binds?.map((bind) => bind.replace(/^.*:\/conf:/, '/conf:')), ['/conf:ro,z']);
    const data = inspect.Mounts.find((mount) => mount.Destination === '/data');
    assert.equal(data?.Name, `${app}_data`);
  });

  it('a changed hostname replaces the container', async () => {
    const before = await web();
    await agent.repo.write({ [`apps/${app}/compose.yaml`]: compose('web2') });
    await agent.repo.commit('rename the host');
    await agent.repo.push();
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const after = await web();
    assert.ok(after && before);
    assert.notEqual(after.id, before.id);
    const hostname = await exec(after.id, ['cat', '/etc/hostname']);
    assert.equal(hostname.stdout.trim(), 'web2');
  });

  it('a sysctl and a security option the host policy refuses stop the commit, ending with the policy lines that admit it', async () => {
    const running = await web();
    await agent.repo.write({ [`apps/${app}/compose.yaml`]: compose('web2', '    cap_add: [SYS_NICE]\n').replace('net.core.somaxconn: 1000', 'net.core.somaxconn: 1000\n      kernel.msgmax: 65536').replace('[no-new-privileges:true]', '[no-new-privileges:true, "apparmor:unconfined"]') });
    await agent.repo.commit('ask the host for more');
    await agent.repo.push();
    const refused = await capstan('once');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`apps/${app}/compose\\.yaml:\\d+:\\d+: services\\.Web\\.sysctls\\["kernel\\.msgmax"\\]: sysctl kernel\\.msgmax.* \\[POLICY_REFUSED\\]`));
    assert.match(refused.stderr, new RegExp(`apps/${app}/compose\\.yaml:\\d+:\\d+: services\\.Web\\.security_opt\\[1\\]: security option apparmor=unconfined .*\\[POLICY_REFUSED\\]`));
    const snippet = /\[POLICY_SNIPPET\]\n((?: {4}.*\n?)+)/.exec(refused.stderr);
    assert.ok(snippet, refused.stderr);
    assert.equal(snippet[1].trimEnd(), '    allowed_capabilities: [SYS_NICE]\n    allowed_sysctls: [kernel.msgmax]\n    allowed_security_opts: [apparmor=unconfined]');
    assert.equal((await web())?.id, running?.id, 'nothing of the commit is applied');

    // The owner copies the lines: the same commit is admitted.
    writeFileSync(policyFile, snippet[1].replace(/^ {4}/gm, ''));
    const admitted = await capstan('once');
    assert.equal(admitted.code, 0, admitted.stdout + admitted.stderr);
    const container = await web();
    assert.notEqual(container?.id, running?.id);
    const msgmax = await exec(container!.id, ['cat', '/proc/sys/kernel/msgmax']);
    assert.equal(msgmax.stdout.trim(), '65536');
  });
});
