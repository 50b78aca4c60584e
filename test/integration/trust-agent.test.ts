import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCapstan } from '../helpers/cli.js';
import { cleanupNode, listManaged, testNodeName, uniqueName } from '../helpers/docker.js';
import { startGitServer, type GitServer, type RemoteRepo } from '../helpers/git-server.js';
import { tempDir, type TempDir } from '../helpers/paths.js';
import { allowedSignersLine, createSigningWorkspace, openSignedRepo, type SignedRepo, type SigningWorkspace, type SshKey } from '../helpers/signing.js';

// Signature policy through the agent itself: commits fetched over HTTP into the shallow cache,
// verified each cycle against a trust file on the host; refusals apply nothing.

describe('trust: the agent deploys only signed commits', () => {
  const node = testNodeName();
  const app = uniqueName('signed');
  let server: GitServer;
  let remote: RemoteRepo;
  let repo: SignedRepo;
  let workspace: SigningWorkspace;
  let trusted: SshKey;
  let stranger: SshKey;
  let state: TempDir;
  let trustFile: string;
  const capstan = (...args: string[]) =>
    runCapstan(args, {
      timeoutMs: 120_000,
      env: { CAPSTAN_REPO: remote.url, CAPSTAN_STATE_DIR: state.path, CAPSTAN_NODE: node, CAPSTAN_TRUST_FILE: trustFile },
    });
  const manifest = (version: string) =>
    `app: ${app}\nservices:\n  web:\n    image: local/busybox:1\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]\n    environment: { VERSION: "${version}" }\n    update: { monitor: 1s }\n`;
  const ids = async () => (await listManaged(node)).map((container) => container.id);

  before(async () => {
    server = await startGitServer();
    remote = await server.createRepo('signed');
    workspace = await createSigningWorkspace();
    repo = await openSignedRepo(workspace, remote.workDir, { init: false });
    trusted = await workspace.sshKey('release');
    stranger = await workspace.sshKey('stranger');
    state = await tempDir('capstan-trust-state');
    trustFile = join(workspace.root, 'allowed-signers');
    writeFileSync(trustFile, `${allowedSignersLine('release@example.test', trusted, 'namespaces="git"')}\n`);
  });

  after(async () => {
    await cleanupNode(node);
    await server?.close();
    await workspace?.cleanup();
    await state?.cleanup();
  });

  it('deploys a commit signed by a trusted key', async () => {
    await repo.commit('v1', { [`${app}.yaml`]: manifest('v1') }, { sign: trusted });
    await remote.push();
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await listManaged(node)).length, 1);
  });

  it('refuses an unsigned commit and keeps the host as it was', async () => {
    const before = await ids();
    const unsigned = await repo.commit('v2 unsigned', { [`${app}.yaml`]: manifest('v2') });
    await remote.push();
    const result = await capstan('once');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /UNSIGNED_COMMIT/);
    assert.deepEqual(await ids(), before);
    const status = JSON.parse((await capstan('status', '--json')).stdout);
    assert.equal(status.lastError.code, 'UNSIGNED_COMMIT');
    assert.equal(status.lastError.commit, unsigned);
  });

  it('refuses a commit signed by a key not in the trust file, naming its fingerprint', async () => {
    const before = await ids();
    await repo.commit('v3 by a stranger', { [`${app}.yaml`]: manifest('v3') }, { sign: stranger });
    await remote.push();
    const result = await capstan('once');
    assert.equal(result.code, 1);
    assert.deepEqual(await ids(), before);
    const status = JSON.parse((await capstan('status', '--json')).stdout);
    assert.equal(status.lastError.code, 'UNTRUSTED_SIGNER');
    assert.ok(status.lastError.message.includes(stranger.fingerprint), status.lastError.message);
  });

  it('deploys once the stranger is added to the trust file, without a restart or new commit', async () => {
    writeFileSync(trustFile, [allowedSignersLine('release@example.test', trusted), allowedSignersLine('stranger@example.test', stranger)].join('\n') + '\n');
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
  });

  it('in tag mode, deploys an unsigned commit named by a signed tag matching the pattern', async () => {
    const before = await ids();
    await repo.commit('v4 unsigned, released by tag', { [`${app}.yaml`]: manifest('v4') });
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
});
