import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import { agentFor, SLEEPER } from '../helpers/fixture.js';
import { allowedSignersLine, trustedSigners } from '../helpers/signing.js';

// Signature policy through the agent itself: commits fetched over HTTP into the shallow cache,
// verified each cycle against a trust file on the host; refusals apply nothing.

describe('trust: the agent deploys only signed commits', () => {
  const manifest = (app: string, version: string) =>
    `app: ${app}\nservices:\n  web:\n    image: local/busybox:1\n    command: ${SLEEPER}\n    environment: { VERSION: "${version}" }\n    update: { monitor: 1s }\n`;

  /** An agent of the test's own, whose host trusts one key; with `deployed`, v1 signed by it is running. */
  const start = async (t: TestContext, { deployed }: { deployed: boolean }) => {
    const agent = await agentFor(t, { app: 'signed' });
    const signers = await trustedSigners(agent.repo.workDir);
    agent.defer(() => signers.workspace.cleanup());
    const capstan = (...args: string[]) => agent.run(args, { env: { CAPSTAN_TRUST_FILE: signers.trustFile } });
    if (deployed) {
      await signers.repo.commit('v1', { [`${agent.app}.yaml`]: manifest(agent.app, 'v1') }, { sign: signers.trusted });
      await agent.repo.push();
      const result = await capstan('once');
      assert.equal(result.code, 0, result.stderr);
    }
    const ids = async () => (await agent.managed()).map((container) => container.id);
    return { ...signers, agent, app: agent.app, remote: agent.repo, capstan, ids };
  };

  it('deploys a commit signed by a trusted key', async (t) => {
    const { agent } = await start(t, { deployed: true });
    assert.equal((await agent.managed()).length, 1);
  });

  it('refuses an unsigned commit and keeps the host as it was', async (t) => {
    const { app, repo, remote, capstan, ids } = await start(t, { deployed: true });
    const before = await ids();
    const unsigned = await repo.commit('v2 unsigned', { [`${app}.yaml`]: manifest(app, 'v2') });
    await remote.push();
    const result = await capstan('once');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /UNSIGNED_COMMIT/);
    assert.deepEqual(await ids(), before);
    const status = JSON.parse((await capstan('status', '--json')).stdout);
    assert.equal(status.lastError.code, 'UNSIGNED_COMMIT');
    assert.equal(status.lastError.commit, unsigned);
  });

  it('refuses a commit signed by a key not in the trust file, naming its fingerprint; deploys it once the key is added, without a restart or new commit', async (t) => {
    const { app, repo, remote, capstan, ids, stranger, trusted, trustFile } = await start(t, { deployed: true });
    const before = await ids();
    await repo.commit('v3 by a stranger', { [`${app}.yaml`]: manifest(app, 'v3') }, { sign: stranger });
    await remote.push();
    const result = await capstan('once');
    assert.equal(result.code, 1);
    assert.deepEqual(await ids(), before);
    const status = JSON.parse((await capstan('status', '--json')).stdout);
    assert.equal(status.lastError.code, 'UNTRUSTED_SIGNER');
    assert.ok(status.lastError.message.includes(stranger.fingerprint), status.lastError.message);

    writeFileSync(trustFile, [allowedSignersLine('release@example.test', trusted), allowedSignersLine('stranger@example.test', stranger)].join('\n') + '\n');
    const trustedNow = await capstan('once');
    assert.equal(trustedNow.code, 0, trustedNow.stderr);
  });

  it('in tag mode, deploys an unsigned commit named by a signed tag matching the pattern', async (t) => {
    const { app, repo, remote, capstan, ids, trusted } = await start(t, { deployed: true });
    const before = await ids();
    await repo.commit('v4 unsigned, released by tag', { [`${app}.yaml`]: manifest(app, 'v4') });
    await remote.push();
    const tagMode = (...args: string[]) => capstan(...args, '--verify', 'tag', '--tag-pattern', 'v*');
    const refused = await tagMode('once');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /NO_SIGNED_TAG/);
    assert.deepEqual(await ids(), before);

    await repo.tag('v4', { sign: trusted });
    await remote.git('push', 'origin', 'refs/tags/v4');
    const result = await tagMode('once');
    assert.equal(result.code, 0, result.stderr);
    assert.notDeepEqual(await ids(), before);
  });

  it('in tag mode, a pin to an older release deploys it: the signed tags naming the pinned commit are fetched too', async (t) => {
    const { agent, app, repo, remote, capstan, trusted } = await start(t, { deployed: false });
    const tagMode = (...args: string[]) => capstan(...args, '--verify', 'tag', '--tag-pattern', 'v*');
    const release = async (version: string) => {
      const commit = await repo.commit(version, { [`${app}.yaml`]: manifest(app, version) });
      await repo.tag(version, { sign: trusted });
      await remote.push();
      await remote.git('push', 'origin', `refs/tags/${version}`);
      const deployed = await tagMode('once');
      assert.equal(deployed.code, 0, deployed.stderr);
      return commit;
    };
    const v1 = await release('v1');
    await release('v2');
    const running = async () => (await agent.managed()).map((container) => container.labels['capstan.commit']);
    assert.notDeepEqual(await running(), [v1]);

    const pinned = await capstan('pin', v1, '--reason', 'v2 misbehaves');
    assert.equal(pinned.code, 0, pinned.stderr);
    const result = await tagMode('once');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await running(), [v1], 'the pinned release runs, verified by its own signed tag');
    const status = JSON.parse((await capstan('status', '--json')).stdout) as { appliedCommit: string };
    assert.equal(status.appliedCommit, v1);
  });
});
