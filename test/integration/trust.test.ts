// Signature verification against real signatures made by git with ssh-keygen and gpg keys, on a
// local repository and on the shallow cache the source fetches over HTTP.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import http from 'isomorphic-git/http/node';
import pino from 'pino';
import { CapstanError } from '../../agent/errors.js';
import { createGitSource } from '../../agent/source/index.js';
import {
  fetchTagsAt, loadTrustFile, parseTrustFile, verifyRevision,
  type TrustedSigner, type TrustPolicy, type Verified,
} from '../../agent/trust/index.js';
import { sharedAgent } from '../helpers/fixture.js';
import {
  allowedSignersLine, createSigningWorkspace, openSignedRepo,
  type GpgKey, type SignedRepo, type SigningWorkspace, type SshKey,
} from '../helpers/signing.js';

const clock = { now: () => Date.now(), sleep: async () => undefined };
const baseTime = 1_750_000_000;

function policy(signers: TrustedSigner[], overrides: Partial<TrustPolicy> = {}): TrustPolicy {
  return { signers, mode: 'commit', allowRewind: false, ...overrides };
}

async function refusal(promise: Promise<unknown>, code: string): Promise<CapstanError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof CapstanError, `expected a CapstanError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.errorClass, 'terminal');
  return caught;
}

describe('trust: commits and tags in a local repository', () => {
  // No git server, state dir or agent: a signing workspace and its repository are all the set-up.
  let workspace: SigningWorkspace;
  let repo: SignedRepo;
  let alice: SshKey;
  let rsaKey: SshKey;
  let ecdsaKey: SshKey;
  let mallory: SshKey;
  let dave: GpgKey;
  let eve: GpgKey;
  let signers: TrustedSigner[];
  let counter = 0;
  const verify = (commit: string, overrides: Partial<TrustPolicy> = {}, appliedCommit: string | null = null): Promise<Verified> =>
    verifyRevision({ fs, gitdir: repo.gitdir, commit, policy: policy(signers, overrides), appliedCommit, clock });
  const commit = (options: Parameters<SignedRepo['commit']>[2] = {}) =>
    repo.commit(`change ${++counter}`, { 'app.yaml': `app: hello\n# ${counter}\n` }, { time: baseTime + counter, ...options });

  before(async () => {
    workspace = await createSigningWorkspace();
    [alice, rsaKey, ecdsaKey, mallory] = await Promise.all([
      workspace.sshKey('alice'), workspace.sshKey('rsa', 'rsa'), workspace.sshKey('ecdsa', 'ecdsa'), workspace.sshKey('mallory'),
    ]);
    dave = await workspace.gpgKey('dave');
    eve = await workspace.gpgKey('eve');
    repo = await openSignedRepo(workspace, path.join(workspace.root, 'repo'), { init: true });
    const trustFile = path.join(workspace.root, 'trust');
    await writeFile(trustFile, [
      '# deployers',
      allowedSignersLine('alice@example.test', alice),
      allowedSignersLine('rsa@example.test', rsaKey, 'namespaces="git"'),
      allowedSignersLine('ecdsa@example.test', ecdsaKey),
      '',
      await workspace.exportGpgKey(dave),
    ].join('\n'));
    signers = await loadTrustFile(fs, trustFile);
  });
  after(async () => {
    await workspace?.cleanup();
  });

  it('verifies commits signed by each trusted SSH key type and reports their fingerprints', async () => {
    for (const [key, principal] of [[alice, 'alice@example.test'], [rsaKey, 'rsa@example.test'], [ecdsaKey, 'ecdsa@example.test']] as const) {
      const signed = await commit({ sign: key });
      const verified = await verify(signed);
      assert.equal(verified.commit, signed);
      assert.equal(verified.mode, 'commit');
      assert.deepEqual(verified.signer, { format: 'ssh', fingerprint: key.fingerprint, identities: [principal] });
      assert.equal(verified.committedAt, new Date((baseTime + counter) * 1000).toISOString());
    }
  });

  it('verifies a commit signed by a trusted OpenPGP key', async () => {
    const signed = await commit({ sign: dave });
    const verified = await verify(signed);
    assert.equal(verified.signer.format, 'openpgp');
    assert.equal(verified.signer.fingerprint, dave.fingerprint);
    assert.deepEqual(verified.signer.identities, [dave.userId]);
  });

  it('refuses an unsigned commit', async () => {
    const unsigned = await commit();
    const error = await refusal(verify(unsigned), 'UNSIGNED_COMMIT');
    assert.equal(error.data.commit, unsigned);
    assert.match(error.message, new RegExp(`${unsigned} is not signed`));
  });

  it('refuses commits signed by keys the trust file does not list, naming the key', async () => {
    const bySsh = await commit({ sign: mallory });
    const sshError = await refusal(verify(bySsh), 'UNTRUSTED_SIGNER');
    assert.equal(sshError.data.commit, bySsh);
    assert.equal(sshError.data.fingerprint, mallory.fingerprint);
    assert.ok(sshError.message.includes(mallory.fingerprint));

    const byGpg = await commit({ sign: eve });
    const gpgError = await refusal(verify(byGpg), 'UNTRUSTED_SIGNER');
    assert.equal(gpgError.data.fingerprint, eve.fingerprint);
  });

  it('refuses a signature copied onto other content', async () => {
    await commit(); // the parent, whose tree the forgery takes
    for (const key of [alice, dave]) {
      const signed = await commit({ sign: key });
      await verify(signed);
      const otherTree = (await repo.git('rev-parse', `${signed}~1^{tree}`)).trim();
      const forged = await repo.forgeCommit(signed, (raw) => raw.replace(/^tree [0-9a-f]{40}$/m, `tree ${otherTree}`));
      const error = await refusal(verify(forged), 'BAD_SIGNATURE');
      assert.equal(error.data.commit, forged);
      assert.equal(error.data.fingerprint, key.kind === 'ssh' ? key.fingerprint : key.fingerprint);
    }
  });

  it('refuses a key listed under @revoked, and one removed from the file', async () => {
    const signed = await commit({ sign: alice });
    const revokedText = [allowedSignersLine('alice@example.test', alice), `@revoked ${alice.fingerprint}`].join('\n');
    const revoked = await refusal(verifyRevision({
      fs, gitdir: repo.gitdir, commit: signed, policy: policy(await parseTrustFile(revokedText, 'trust')), appliedCommit: null, clock,
    }), 'REVOKED_KEY');
    assert.equal(revoked.data.fingerprint, alice.fingerprint);

    const byKeyLine = `@revoked ${alice.publicKeyLine}\n${allowedSignersLine('rsa@example.test', rsaKey)}`;
    await refusal(verifyRevision({
      fs, gitdir: repo.gitdir, commit: signed, policy: policy(await parseTrustFile(byKeyLine, 'trust')), appliedCommit: null, clock,
    }), 'REVOKED_KEY');

    const withoutAlice = allowedSignersLine('rsa@example.test', rsaKey);
    await refusal(verifyRevision({
      fs, gitdir: repo.gitdir, commit: signed, policy: policy(await parseTrustFile(withoutAlice, 'trust')), appliedCommit: null, clock,
    }), 'UNTRUSTED_SIGNER');
  });

  it('refuses an SSH key allowed only for other namespaces or outside its validity', async () => {
    const signed = await commit({ sign: alice });
    for (const options of ['namespaces="file,email"', 'valid-before="20200101Z"', 'valid-after="29990101Z"']) {
      const text = allowedSignersLine('alice@example.test', alice, options);
      const error = await refusal(verifyRevision({
        fs, gitdir: repo.gitdir, commit: signed, policy: policy(await parseTrustFile(text, 'trust')), appliedCommit: null, clock,
      }), 'UNTRUSTED_SIGNER');
      assert.equal(error.data.fingerprint, alice.fingerprint);
    }
    const allowed = allowedSignersLine('alice@example.test', alice, 'namespaces="file,git",valid-after="20200101Z"');
    await verifyRevision({ fs, gitdir: repo.gitdir, commit: signed, policy: policy(await parseTrustFile(allowed, 'trust')), appliedCommit: null, clock });
  });

  it('refuses tags whose signed name differs from their ref', async () => {
    const head = await commit();
    const tagObject = await repo.tag('test-1', { sign: alice });
    await repo.git('update-ref', 'refs/tags/v-smuggled', tagObject);
    await refusal(verify(head, { mode: 'tag', tagPattern: 'v*' }), 'NO_SIGNED_TAG');
    await repo.git('tag', '-d', 'v-smuggled');
  });

  it('in tag mode, deploys a head named by a signed tag matching the pattern', async () => {
    const head = await commit();
    await refusal(verify(head), 'UNSIGNED_COMMIT');
    await repo.tag('v1.0.0', { sign: alice });
    const bySsh = await verify(head, { mode: 'tag', tagPattern: 'v*' });
    assert.equal(bySsh.tag, 'v1.0.0');
    assert.equal(bySsh.mode, 'tag');
    assert.equal(bySsh.signer.fingerprint, alice.fingerprint);

    const next = await commit();
    await repo.tag('v1.1.0', { sign: dave });
    const byGpg = await verify(next, { mode: 'tag', tagPattern: 'v1.*' });
    assert.equal(byGpg.tag, 'v1.1.0');
    assert.equal(byGpg.signer.fingerprint, dave.fingerprint);
  });

  it('in tag mode, refuses a head without a valid signed matching tag', async () => {
    const head = await commit({ sign: alice });
    const none = await refusal(verify(head, { mode: 'tag', tagPattern: 'v*' }), 'NO_SIGNED_TAG');
    assert.equal(none.data.commit, head);

    await repo.tag('v2-light', { lightweight: true });
    await repo.tag('v2-unsigned');
    const unsigned = await refusal(verify(head, { mode: 'tag', tagPattern: 'v*' }), 'NO_SIGNED_TAG');
    assert.deepEqual(unsigned.data.lightweightTags, ['v2-light']);

    await repo.tag('release-2', { sign: alice });
    await refusal(verify(head, { mode: 'tag', tagPattern: 'v*' }), 'NO_SIGNED_TAG');
    assert.equal((await verify(head, { mode: 'tag', tagPattern: 'release-*' })).tag, 'release-2');

    await repo.tag('v2-mallory', { sign: mallory });
    const untrusted = await refusal(verify(head, { mode: 'tag', tagPattern: 'v*' }), 'UNTRUSTED_SIGNER');
    assert.equal(untrusted.data.tag, 'v2-mallory');
    assert.equal(untrusted.data.fingerprint, mallory.fingerprint);

    // A signed tag on another commit vouches for that commit only.
    const later = await commit();
    await refusal(verify(later, { mode: 'tag', tagPattern: 'release-*' }), 'NO_SIGNED_TAG');
  });

  it('refuses a key carrying an OpenPGP revocation, imported or pasted as a certificate', async () => {
    const frank = await workspace.gpgKey('frank');
    const signed = await commit({ sign: frank });
    const publicKey = await workspace.exportGpgKey(frank);
    const trusted = await parseTrustFile(publicKey, 'trust');
    assert.equal((await verifyRevision({ fs, gitdir: repo.gitdir, commit: signed, policy: policy(trusted), appliedCommit: null, clock })).signer.fingerprint, frank.fingerprint);

    const certificate = await workspace.gpgRevocationCertificate(frank);
    const pasted = await parseTrustFile(`${certificate}\n${publicKey}`, 'trust');
    const fromCertificate = await refusal(verifyRevision({ fs, gitdir: repo.gitdir, commit: signed, policy: policy(pasted), appliedCommit: null, clock }), 'REVOKED_KEY');
    assert.equal(fromCertificate.data.fingerprint, frank.fingerprint);

    await workspace.revokeGpgKey(frank);
    const exported = await parseTrustFile(await workspace.exportGpgKey(frank), 'trust');
    await refusal(verifyRevision({ fs, gitdir: repo.gitdir, commit: signed, policy: policy(exported), appliedCommit: null, clock }), 'REVOKED_KEY');

    const byFingerprint = await parseTrustFile(`${publicKey}\n@revoked ${frank.fingerprint}`, 'trust');
    await refusal(verifyRevision({ fs, gitdir: repo.gitdir, commit: signed, policy: policy(byFingerprint), appliedCommit: null, clock }), 'REVOKED_KEY');
  });

  it('refuses moving back to an ancestor of the applied commit unless rewinds are allowed', async () => {
    const older = await commit({ sign: alice });
    const applied = await commit({ sign: alice });
    const rewind = await refusal(verify(older, {}, applied), 'REWIND_REFUSED');
    assert.equal(rewind.data.commit, older);
    assert.equal(rewind.data.appliedCommit, applied);
    assert.equal(rewind.data.fingerprint, alice.fingerprint);
    assert.match(rewind.message, /ancestor/);
    assert.equal((await verify(older, { allowRewind: true }, applied)).commit, older);

    const newer = await commit({ sign: alice });
    assert.equal((await verify(newer, {}, applied)).commit, newer);
    assert.equal((await verify(applied, {}, applied)).commit, applied);

    // Outside the applied commit's history, the signed committer time decides.
    await repo.git('checkout', '--quiet', '--orphan', 'elsewhere');
    const unrelatedOld = await commit({ sign: alice, time: baseTime - 1000 });
    const unrelatedNew = await commit({ sign: alice, time: baseTime + 100_000 });
    await repo.git('checkout', '--quiet', 'main');
    const byTime = await refusal(verify(unrelatedOld, {}, applied), 'REWIND_REFUSED');
    assert.match(byTime.message, /before the applied commit/);
    assert.equal((await verify(unrelatedNew, {}, applied)).commit, unrelatedNew);
  });
});

describe('trust: over HTTP, on the source\'s shallow cache', () => {
  // The fixture's git server and scratch folders; no agent runs here.
  const fixture = sharedAgent();
  let workspace: SigningWorkspace;
  let alice: SshKey;
  let signers: TrustedSigner[];
  const logger = pino({ level: 'silent' });

  async function fetchInto(url: string, stateDir?: string): Promise<{ head: string; gitdir: string; stateDir: string }> {
    const dir = stateDir ?? (await fixture.tempDir('capstan-trust')).path;
    const source = createGitSource({ repo: url, branch: 'main', stateDir: dir }, { fs, http, logger, clock });
    return { head: await source.fetch(), gitdir: path.join(dir, 'git'), stateDir: dir };
  }

  async function remoteRepo(name: string): Promise<{ url: string; repo: SignedRepo; push(force?: boolean): Promise<void> }> {
    const remote = await fixture.server.createRepo(name);
    const repo = await openSignedRepo(workspace, remote.workDir, { init: false });
    return {
      url: remote.url,
      repo,
      push: async (force = false) => void (await repo.git('push', '--quiet', ...(force ? ['--force'] : []), 'origin', 'HEAD:refs/heads/main')),
    };
  }

  before(async () => {
    workspace = await createSigningWorkspace();
    fixture.defer(() => workspace.cleanup());
    alice = await workspace.sshKey('alice');
    signers = await parseTrustFile(allowedSignersLine('alice@example.test', alice), 'trust');
  });

  it('verifies the fetched head and refuses a forged one pushed over it', async () => {
    const { url, repo, push } = await remoteRepo('forged');
    const signed = await repo.commit('deploy', { 'app.yaml': 'app: one\n' }, { sign: alice, time: baseTime });
    await push();
    const first = await fetchInto(url);
    assert.equal(first.head, signed);
    assert.equal(fs.readFileSync(path.join(first.gitdir, 'shallow'), 'utf8').trim(), signed);
    const verified = await verifyRevision({ fs, gitdir: first.gitdir, commit: first.head, policy: policy(signers), appliedCommit: null, clock });
    assert.equal(verified.signer.fingerprint, alice.fingerprint);

    const forged = await repo.forgeCommit(signed, (raw) => raw.replace('\ndeploy\n', '\ndeploy everything\n'));
    await repo.git('reset', '--quiet', '--hard', forged);
    await push(true);
    const second = await fetchInto(url, first.stateDir);
    assert.equal(second.head, forged);
    const error = await refusal(verifyRevision({ fs, gitdir: second.gitdir, commit: forged, policy: policy(signers), appliedCommit: signed, clock }), 'BAD_SIGNATURE');
    assert.equal(error.data.fingerprint, alice.fingerprint);
  });

  it('after a force-push to an older signed commit, refuses or follows by the rewind setting', async () => {
    const { url, repo, push } = await remoteRepo('rewind');
    const older = await repo.commit('one', { 'app.yaml': 'app: one\n' }, { sign: alice, time: baseTime });
    const applied = await repo.commit('two', { 'app.yaml': 'app: two\n' }, { sign: alice, time: baseTime + 60 });
    await push();
    const cache = await fetchInto(url);
    assert.equal(cache.head, applied);
    const appliedVerified = await verifyRevision({ fs, gitdir: cache.gitdir, commit: applied, policy: policy(signers), appliedCommit: null, clock });

    await repo.git('reset', '--quiet', '--hard', older);
    await push(true);
    const rewound = await fetchInto(url, cache.stateDir);
    assert.equal(rewound.head, older);
    const input = { fs, gitdir: rewound.gitdir, commit: older, appliedCommit: applied, clock };
    const error = await refusal(verifyRevision({ ...input, policy: policy(signers) }), 'REWIND_REFUSED');
    assert.equal(error.data.commit, older);
    assert.equal((await verifyRevision({ ...input, policy: policy(signers, { allowRewind: true }) })).commit, older);

    // A fresh cache holds no trace of the applied commit: its recorded time decides, and
    // without one the rewind cannot be ruled out.
    const fresh = await fetchInto(url);
    assert.equal(fresh.head, older);
    const freshInput = { fs, gitdir: fresh.gitdir, commit: older, appliedCommit: applied, clock, policy: policy(signers) };
    const byTime = await refusal(verifyRevision({ ...freshInput, appliedCommittedAt: appliedVerified.committedAt }), 'REWIND_REFUSED');
    assert.match(byTime.message, /before the applied commit/);
    const unknown = await refusal(verifyRevision(freshInput), 'REWIND_REFUSED');
    assert.match(unknown.message, /unknown/);

    const newer = await repo.commit('three', { 'app.yaml': 'app: three\n' }, { sign: alice, time: baseTime + 120 });
    await push(true);
    const forward = await fetchInto(url, fresh.stateDir);
    assert.equal(forward.head, newer);
    const verified = await verifyRevision({ ...freshInput, gitdir: forward.gitdir, commit: newer, appliedCommittedAt: appliedVerified.committedAt });
    assert.equal(verified.commit, newer);
  });

  it('in tag mode, verifies a signed tag fetched into the cache by fetchTagsAt', async () => {
    const { url, repo, push } = await remoteRepo('tags');
    const old = await repo.commit('one', { 'app.yaml': 'app: one\n' }, { time: baseTime });
    await repo.tag('v0.9.0', { sign: alice });
    const head = await repo.commit('two', { 'app.yaml': 'app: two\n' }, { time: baseTime + 60 });
    await repo.tag('v1.0.0', { sign: alice });
    await repo.tag('nightly', { sign: alice });
    await repo.tag('v1-light', { lightweight: true });
    await push();
    await repo.git('push', '--quiet', 'origin', '--tags');

    const cache = await fetchInto(url);
    assert.equal(cache.head, head);
    const tagPolicy = policy(signers, { mode: 'tag', tagPattern: 'v*' });
    // The source fetches one branch only: without its tags, tag mode refuses.
    await refusal(verifyRevision({ fs, gitdir: cache.gitdir, commit: head, policy: tagPolicy, appliedCommit: null, clock }), 'NO_SIGNED_TAG');

    const fetched = await fetchTagsAt({ fs, http, gitdir: cache.gitdir, url, branch: 'main', commits: [head], tagPattern: 'v*' });
    assert.deepEqual(fetched, ['v1.0.0']);
    const verified = await verifyRevision({ fs, gitdir: cache.gitdir, commit: head, policy: tagPolicy, appliedCommit: old, clock });
    assert.equal(verified.tag, 'v1.0.0');
    assert.equal(verified.signer.fingerprint, alice.fingerprint);

    // Deleted on the server: gone from the cache at the next fetch, and the head is refused again.
    await repo.git('push', '--quiet', 'origin', ':refs/tags/v1.0.0');
    assert.deepEqual(await fetchTagsAt({ fs, http, gitdir: cache.gitdir, url, branch: 'main', commits: [head], tagPattern: 'v*' }), []);
    await refusal(verifyRevision({ fs, gitdir: cache.gitdir, commit: head, policy: tagPolicy, appliedCommit: old, clock }), 'NO_SIGNED_TAG');
  });
});
