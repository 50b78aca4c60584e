import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { runCapstan } from '../helpers/cli.js';
import { docker, listManaged, uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';

// A network whose isolation the engine does not enforce (its rules flushed by a firewall reload,
// say) gets no replica, and doctor says which. The test removes one rule of its own network's
// bridge (root only, as the agent's check needs) and puts it back.

const canEditRules = process.getuid?.() === 0 && (() => {
  try {
    execFileSync('iptables-save', ['-t', 'filter'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
})();

describe('network isolation is verified before replicas start', { skip: canEditRules ? false : 'needs root and iptables' }, () => {
  const agent = sharedAgent({ repoName: 'isolation' });
  const { node } = agent;
  const app = uniqueName('iso');
  let removedRule: string[] | undefined;
  const capstan = (...args: string[]) =>
    runCapstan(args, { timeoutMs: 120_000, env: agent.env() });
  const manifest = (version: string) =>
    `app: ${app}\nservices:\n  web:\n    image: local/busybox:1\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]\n    environment: { VERSION: "${version}" }\n    update: { monitor: 1s }\n`;

  // After the label cleanup, whatever it meets.
  agent.defer(async () => {
    if (removedRule) execFileSync('iptables', ['-I', ...removedRule], { timeout: 10_000 });
  });

  it('refuses to start a replica on a network the engine does not isolate, and doctor fails on it', async () => {
    await agent.repo.write({ [`${app}.yaml`]: manifest('1') });
    await agent.repo.commit('v1');
    await agent.repo.push();
    assert.equal((await capstan('once')).code, 0);
    const before = await listManaged(node);
    assert.equal(before.length, 1);

    const network = await docker.getNetwork(`${app}_default`).inspect();
    const bridge = `br-${(network.Id as string).slice(0, 12)}`;
    removedRule = ['DOCKER-ISOLATION-STAGE-2', '-o', bridge, '-j', 'DROP'];
    execFileSync('iptables', ['-D', ...removedRule], { timeout: 10_000 });

    const doctor = await capstan('doctor', '--json');
    const checks = JSON.parse(doctor.stdout) as { name: string; status: string; detail: string }[];
    const isolation = checks.find((check) => check.name === 'network isolation');
    assert.equal(isolation?.status, 'fail', JSON.stringify(isolation));
    assert.ok(isolation.detail.includes(`${app}_default`), isolation.detail);

    await agent.repo.write({ [`${app}.yaml`]: manifest('2') });
    await agent.repo.commit('v2');
    await agent.repo.push();
    const refused = await capstan('once');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /NETWORK_NOT_ISOLATED|is not isolated/);
    const during = await listManaged(node);
    assert.deepEqual(during.map((container) => container.id), before.map((container) => container.id), 'the running replica is untouched');

    // An operator who isolates networks another way turns the check off: applied, doctor warns.
    const unchecked = await capstan('once', '--network-isolation', 'off');
    assert.equal(unchecked.code, 0, unchecked.stderr);
    const uncheckedDoctor = JSON.parse((await capstan('doctor', '--json', '--network-isolation', 'off')).stdout) as { name: string; status: string }[];
    assert.equal(uncheckedDoctor.find((check) => check.name === 'network isolation')?.status, 'warn');
    await agent.repo.write({ [`${app}.yaml`]: manifest('3') });
    await agent.repo.commit('v3');
    await agent.repo.push();

    execFileSync('iptables', ['-I', ...removedRule], { timeout: 10_000 });
    removedRule = undefined;
    const applied = await capstan('once');
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal((await capstan('doctor', '--json')).code, 0);
  });
});
