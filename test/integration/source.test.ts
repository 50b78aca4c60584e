// The source stage against a real smart-HTTP git server (git-http-backend), token required.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { chmod, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CapstanError } from '../../agent/errors.js';
import { sharedAgent } from '../helpers/fixture.js';
import { startGitServer, type RequestRecord } from '../helpers/git-server.js';
import { makeSource as sourceHarness, type SourceOptions } from '../helpers/source.js';

const token = `tok-${randomBytes(16).toString('hex')}`;

/** The file's token unless `options` names one (`token: undefined`: none); a debug log. */
const makeSource = (repo: string, stateDir: string, options: SourceOptions = {}) => sourceHarness(repo, stateDir, { token, logLevel: 'debug', ...options });

/** Every file under `dir`, relative, sorted; symlinks listed, not followed. */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await listFiles(dir, relative)));
    else files.push(relative);
  }
  return files.sort();
}

function kinds(records: readonly RequestRecord[]): string[] {
  return records.map((record) => record.kind);
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<CapstanError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof CapstanError, `expected a CapstanError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

describe('git source over HTTP', () => {
  // The fixture's git server and folders; no agent runs here.
  const fixture = sharedAgent({ token });
  const newStateDir = async () => (await fixture.tempDir('capstan-source')).path;

  it('fetches the branch head and checks out its tree with metadata', async () => {
    const repo = await fixture.server.createRepo('checkout');
    await repo.write({ 'apps/web.yaml': 'app: web\n', 'README.md': '# manifests\n', 'bin/check.sh': '#!/bin/sh\nexit 0\n' });
    await chmod(join(repo.workDir, 'bin/check.sh'), 0o755);
    await symlink('apps/web.yaml', join(repo.workDir, 'link.yaml'));
    await symlink('/etc/passwd', join(repo.workDir, 'escape.yaml'));
    // Inside by its text (sub/here/here/../.. reads as sub), outside on disk: `here` is sub
    // itself, so the first `..` leaves sub and the second the checkout.
    await repo.write({ 'sub/keep.txt': 'kept\n' });
    await symlink('.', join(repo.workDir, 'sub/here'));
    await symlink('here/here/../..', join(repo.workDir, 'sub/climb'));
    await symlink('missing.yaml', join(repo.workDir, 'dangling.yaml'));
    const commit = await repo.commit('add web\n\nA longer body that is not kept.');
    await repo.push();
    const committedAt = new Date(Number((await repo.git('log', '-1', '--format=%ct')).trim()) * 1000).toISOString();

    const stateDir = await newStateDir();
    const { source, logLines } = makeSource(repo.url, stateDir);
    const before = fixture.server.log.length;
    assert.equal(await source.fetch(), commit);
    assert.deepEqual(kinds(fixture.server.log.slice(before)).filter((kind) => kind === 'fetch'), ['fetch']);

    const checkout = await source.checkout(commit);
    assert.deepEqual(checkout, {
      commit, dir: join(stateDir, 'checkouts', commit), author: 'Test Author <author@example.test>', message: 'add web', committedAt,
    });
    assert.deepEqual(await listFiles(checkout.dir), ['README.md', 'apps/web.yaml', 'bin/check.sh', 'dangling.yaml', 'link.yaml', 'sub/here', 'sub/keep.txt']);
    assert.equal(await readFile(join(checkout.dir, 'apps/web.yaml'), 'utf8'), 'app: web\n');
    assert.equal((await stat(join(checkout.dir, 'bin/check.sh'))).mode & 0o111, 0o111);
    assert.equal((await stat(join(checkout.dir, 'README.md'))).mode & 0o111, 0);
    assert.equal(await readlink(join(checkout.dir, 'link.yaml')), 'apps/web.yaml');
    assert.equal(await readlink(join(checkout.dir, 'sub/here')), '.');
    const skipped = logLines.filter((line) => line.includes('symlink pointing outside'));
    assert.deepEqual(skipped.map((line) => JSON.parse(line).path).sort(), ['escape.yaml', 'sub/climb'], 'the skipped symlinks are logged');
  });

  it('checks out idempotently and rewrites a folder whose completion marker is missing', async () => {
    const repo = await fixture.server.createRepo('idempotent');
    await repo.write({ 'app.yaml': 'app: one\n' });
    const commit = await repo.commit('one');
    await repo.push();
    const stateDir = await newStateDir();
    const { source } = makeSource(repo.url, stateDir);
    await source.fetch();
    const first = await source.checkout(commit);

    // With the marker present the folder is still checked against the inventory: a stray file
    // (planted through a bind mount, say) makes it be written again (source-integrity.test.ts).
    assert.deepEqual(await source.checkout(commit), first);
    await writeFile(join(first.dir, 'stray.txt'), 'x');
    assert.deepEqual(await source.checkout(commit), first);
    assert.deepEqual(await listFiles(first.dir), ['app.yaml']);

    // Without it (a crash between rename and marker) the folder is written again.
    await rm(join(stateDir, 'checkouts', `${commit}.json`));
    assert.deepEqual(await source.checkout(commit), first);
    assert.deepEqual(await listFiles(first.dir), ['app.yaml']);
  });

  it('makes no pack request when the branch has not moved, even from a new process', async () => {
    const repo = await fixture.server.createRepo('unchanged');
    await repo.write({ 'app.yaml': 'app: same\n' });
    const commit = await repo.commit('same');
    await repo.push();
    const stateDir = await newStateDir();
    assert.equal(await makeSource(repo.url, stateDir).source.fetch(), commit);

    for (const source of [makeSource(repo.url, stateDir).source, makeSource(repo.url, stateDir).source]) {
      const before = fixture.server.log.length;
      assert.equal(await source.fetch(), commit);
      const requests = kinds(fixture.server.log.slice(before));
      assert.ok(!requests.includes('fetch'), `no pack download expected, got ${requests.join(', ')}`);
      // 401 challenge, authenticated advertisement, ls-refs.
      assert.ok(requests.length <= 3, `expected a ref check only, got ${requests.join(', ')}`);
    }
  });

  it('fetches a head the reference check just read without asking for the head again', async () => {
    const repo = await fixture.server.createRepo('known-head');
    await repo.write({ 'app.yaml': 'app: v1\n' });
    const first = await repo.commit('v1');
    await repo.push();
    const { source } = makeSource(repo.url, await newStateDir());
    assert.equal(await source.fetch(), first);

    await repo.write({ 'app.yaml': 'app: v2\n' });
    const second = await repo.commit('v2');
    await repo.push();
    let before = fixture.server.log.length;
    assert.equal(await source.fetch(second), second);
    let requests = kinds(fixture.server.log.slice(before));
    assert.ok(!requests.includes('ls-refs'), `no ls-refs expected, got ${requests.join(', ')}`);
    assert.ok(requests.includes('fetch'), `the pack is fetched, got ${requests.join(', ')}`);

    // The branch moved on after the check: the fetch still brings the newest commit.
    await repo.write({ 'app.yaml': 'app: v3\n' });
    await repo.commit('v3');
    await repo.write({ 'app.yaml': 'app: v4\n' });
    const fourth = await repo.commit('v4');
    await repo.push();
    assert.equal(await source.fetch(second), second, 'a head already in the cache is not fetched again');
    before = fixture.server.log.length;
    assert.equal(await source.fetch(), fourth);
    requests = kinds(fixture.server.log.slice(before));
    assert.ok(requests.includes('ls-refs'), `without a head the server is asked, got ${requests.join(', ')}`);
    assert.equal(await source.fetch('not-a-commit'), fourth, 'anything but a commit id is ignored');
  });

  it('follows new commits and force-pushes to a rewritten history', async () => {
    const repo = await fixture.server.createRepo('moving');
    await repo.write({ 'app.yaml': 'app: v1\n', 'old.yaml': 'app: old\n' });
    const first = await repo.commit('v1');
    await repo.push();
    const stateDir = await newStateDir();
    const { source } = makeSource(repo.url, stateDir);
    assert.equal(await source.fetch(), first);

    await repo.write({ 'app.yaml': 'app: v2\n' });
    const second = await repo.commit('v2');
    await repo.push();
    let before = fixture.server.log.length;
    assert.equal(await source.fetch(), second);
    assert.equal(kinds(fixture.server.log.slice(before)).filter((kind) => kind === 'fetch').length, 1);
    assert.equal(await readFile(join((await source.checkout(second)).dir, 'app.yaml'), 'utf8'), 'app: v2\n');

    await repo.git('reset', '--quiet', '--hard', first);
    await repo.write({ 'app.yaml': 'app: rewritten\n', 'old.yaml': null });
    const rewritten = await repo.commit('rewritten');
    await repo.push({ force: true });
    assert.equal(await source.fetch(), rewritten);
    const checkout = await source.checkout(rewritten);
    assert.deepEqual(await listFiles(checkout.dir), ['app.yaml']);
    assert.equal(await readFile(join(checkout.dir, 'app.yaml'), 'utf8'), 'app: rewritten\n');

    // Forced back to a commit already in the cache: followed without downloading it again.
    await repo.git('reset', '--quiet', '--hard', second);
    await repo.push({ force: true });
    before = fixture.server.log.length;
    assert.equal(await source.fetch(), second);
    assert.ok(!kinds(fixture.server.log.slice(before)).includes('fetch'));
    assert.equal(await readFile(join((await source.checkout(second)).dir, 'app.yaml'), 'utf8'), 'app: v2\n');
  });

  it('sends the token up front once the server has accepted it, and answers a later 401 again', async () => {
    const repo = await fixture.server.createRepo('upfront');
    await repo.write({ 'app.yaml': 'app: one\n' });
    await repo.commit('one');
    await repo.push();
    const { source, logLines } = makeSource(repo.url, await newStateDir());

    let before = fixture.server.log.length;
    await source.fetch();
    const first = fixture.server.log.slice(before);
    assert.deepEqual(first.map((record) => `${record.kind} ${record.status} ${record.authorization}`),
      ['advertise 401 false', 'advertise 200 true', 'ls-refs 200 true', 'advertise 200 true', 'fetch 200 true']);

    await repo.write({ 'app.yaml': 'app: two\n' });
    const second = await repo.commit('two');
    await repo.push();
    before = fixture.server.log.length;
    assert.equal(await source.fetch(), second);
    assert.deepEqual(fixture.server.log.slice(before).map((record) => `${record.kind} ${record.status} ${record.authorization}`),
      ['advertise 200 true', 'ls-refs 200 true', 'advertise 200 true', 'fetch 200 true']);

    // A server that refuses the header (a rotated token coming back, say) gets it through onAuth.
    fixture.server.refuseNext(1);
    before = fixture.server.log.length;
    assert.equal(await source.fetch(), second);
    assert.deepEqual(fixture.server.log.slice(before).map((record) => `${record.kind} ${record.status}`), ['advertise 401', 'advertise 200', 'ls-refs 200']);

    const forms = [token, Buffer.from(token).toString('base64'), Buffer.from(`x-access-token:${token}`).toString('base64')];
    for (const form of forms) assert.equal(logLines.join('\n').includes(form), false, 'a log line holds the token');
  });

  it('never sends the token to a server that does not ask for it', async () => {
    const publicServer = await startGitServer();
    try {
      const repo = await publicServer.createRepo('public');
      await repo.write({ 'app.yaml': 'app: public\n' });
      const first = await repo.commit('one');
      await repo.push();
      const { source } = makeSource(repo.url, await newStateDir());
      assert.equal(await source.fetch(), first);
      await repo.write({ 'app.yaml': 'app: public 2\n' });
      const second = await repo.commit('two');
      await repo.push();
      assert.equal(await source.fetch(), second);
      assert.ok(publicServer.log.length >= 6);
      assert.deepEqual(publicServer.log.filter((record) => record.kind !== 'push' && record.authorization), []);
    } finally {
      await publicServer.close();
    }
  });

  it('refuses a wrong or missing token with GIT_AUTH, without retrying', async () => {
    const repo = await fixture.server.createRepo('auth');
    await repo.write({ 'app.yaml': 'app: auth\n' });
    await repo.commit('auth');
    await repo.push();
    const wrongToken = `wrong-${randomBytes(8).toString('hex')}`;
    for (const candidate of [wrongToken, undefined]) {
      const { source, sleeps, logLines } = makeSource(repo.url, await newStateDir(), { token: candidate });
      const error = await rejectsWithCode(source.fetch(), 'GIT_AUTH');
      assert.equal(error.errorClass, 'transient');
      assert.deepEqual(sleeps, []);
      assert.doesNotMatch(`${error.message} ${JSON.stringify(error.data)} ${logLines.join('')}`, new RegExp(wrongToken));
      assert.ok(logLines.some((line) => line.includes('git server refused the credentials')));
    }
  });

  it('reports a missing branch (and an empty repository) as GIT_BRANCH_NOT_FOUND, terminal', async () => {
    const repo = await fixture.server.createRepo('branches');
    await repo.write({ 'app.yaml': 'app: b\n' });
    await repo.commit('b');
    await repo.push();
    const missing = await rejectsWithCode(makeSource(repo.url, await newStateDir(), { branch: 'release' }).source.fetch(), 'GIT_BRANCH_NOT_FOUND');
    assert.equal(missing.errorClass, 'terminal');
    const empty = await fixture.server.createRepo('empty');
    await rejectsWithCode(makeSource(empty.url, await newStateDir()).source.fetch(), 'GIT_BRANCH_NOT_FOUND');
  });

  it('reports GIT_COMMIT_NOT_FOUND for a commit it cannot have', async () => {
    const repo = await fixture.server.createRepo('unknown-commit');
    await repo.write({ 'app.yaml': 'app: u\n' });
    await repo.commit('u');
    await repo.push();
    const { source } = makeSource(repo.url, await newStateDir());
    await source.fetch();
    await rejectsWithCode(source.checkout('0123456789abcdef0123456789abcdef01234567'), 'GIT_COMMIT_NOT_FOUND');
    await rejectsWithCode(source.checkout('../../etc'), 'GIT_COMMIT_NOT_FOUND');
  });

  it('gives GIT_UNREACHABLE after three tries on a closed port', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const { source, sleeps } = makeSource(`http://127.0.0.1:${closedPort}/gone.git`, await newStateDir());
    const error = await rejectsWithCode(source.fetch(), 'GIT_UNREACHABLE');
    assert.equal(error.errorClass, 'transient');
    assert.equal(sleeps.length, 2, 'three tries, two waits');
    assert.ok(sleeps[0] < 1000 && sleeps[1] < 2000, `waits within the backoff ceilings: ${sleeps.join(', ')}`);
  });

  it('gives GIT_UNREACHABLE after three tries on a server that never answers', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as net.AddressInfo;
      const { source, sleeps } = makeSource(`http://127.0.0.1:${port}/hang.git`, await newStateDir(), { requestTimeoutMs: 200 });
      const started = Date.now();
      await rejectsWithCode(source.fetch(), 'GIT_UNREACHABLE');
      assert.equal(sleeps.length, 2);
      assert.ok(Date.now() - started < 10_000, 'each try is bounded by the request timeout');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('reports a repository the server does not have as GIT_UNREACHABLE without retrying', async () => {
    const { source, sleeps } = makeSource(`${fixture.server.url}/no-such-repo.git`, await newStateDir());
    const error = await rejectsWithCode(source.fetch(), 'GIT_UNREACHABLE');
    assert.equal(error.data.statusCode, 404);
    assert.deepEqual(sleeps, []);
  });

  it('prunes every checkout but the ones kept', async () => {
    const repo = await fixture.server.createRepo('prune');
    const stateDir = await newStateDir();
    const { source } = makeSource(repo.url, stateDir);
    const commits: string[] = [];
    for (const version of ['1', '2', '3']) {
      await repo.write({ 'app.yaml': `app: v${version}\n` });
      commits.push(await repo.commit(`v${version}`));
      await repo.push();
      await source.checkout(await source.fetch());
    }
    await writeFile(join(stateDir, 'checkouts', 'notes.txt'), 'not ours');
    await fs.promises.mkdir(join(stateDir, 'checkouts', `.tmp-${commits[0]}-crashed`));
    await source.prune([commits[1], commits[2]]);
    assert.deepEqual((await readdir(join(stateDir, 'checkouts'))).sort(),
      [commits[1], `${commits[1]}.json`, `${commits[1]}.files.json`, commits[2], `${commits[2]}.json`, `${commits[2]}.files.json`, 'notes.txt'].sort());
  });

  it('never writes or logs the token', async () => {
    const repo = await fixture.server.createRepo('secret');
    await repo.write({ 'app.yaml': 'app: s\n' });
    const first = await repo.commit('s1');
    await repo.push();
    const stateDir = await newStateDir();
    const { source, logLines } = makeSource(repo.url, stateDir);
    await source.checkout(await source.fetch());
    await repo.write({ 'app.yaml': 'app: s2\n' });
    await repo.commit('s2');
    await repo.push();
    await source.checkout(await source.fetch());
    await writeFile(join(stateDir, 'git', 'HEAD'), 'garbage');
    await source.fetch();
    await source.prune([first]);

    const forms = [token, Buffer.from(token).toString('base64'), Buffer.from(`x-access-token:${token}`).toString('base64')];
    const files = await listFiles(stateDir);
    assert.ok(files.includes('git/config') && files.length > 5, `the state dir was written: ${files.join(', ')}`);
    for (const file of files) {
      const content = await readFile(join(stateDir, file)).catch(() => Buffer.alloc(0));
      for (const form of forms) assert.equal(content.includes(form), false, `${file} holds the token`);
    }
    const logs = logLines.join('\n');
    assert.ok(logs.length > 0);
    for (const form of forms) assert.equal(logs.includes(form), false, 'a log line holds the token');
  });
});
