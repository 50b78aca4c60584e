// OpenPGP key expiry is judged when the agent verifies ("now", the injected clock), as
// revocation is: the signature's creation time is chosen by whoever signs, so a key that expired
// years ago must not deploy a commit made today with a signature back-dated into its validity
// (`gpg --faked-system-time`). Real keys and signatures from gpg and git, as `git verify-commit`
// would judge them. No git server, state dir or agent: a signing workspace is all its set-up.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CapstanError } from '../../agent/errors.js';
import { parseTrustFile, verifyRevision, type TrustedSigner } from '../../agent/trust/index.js';
import { createSigningWorkspace, openSignedRepo, run, type GpgKey, type SignedRepo, type SigningWorkspace } from '../helpers/signing.js';

const DAY_MS = 24 * 3600 * 1000;

/** gpg's `--faked-system-time` format; the trailing `!` freezes the clock there. */
function gpgTime(ms: number): string {
  return `${new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '')}!`;
}

describe('trust: OpenPGP key expiry is judged at verification time', () => {
  let workspace: SigningWorkspace;
  let repo: SignedRepo;
  let signers: TrustedSigner[];
  const realNow = Date.now();
  const clockAt = (ms: number) => ({ now: () => ms, sleep: async () => undefined });
  const verifyAt = (commit: string, ms: number) =>
    verifyRevision({ fs, gitdir: repo.gitdir, commit, policy: { signers, mode: 'commit', allowRewind: false }, appliedCommit: null, clock: clockAt(ms) });

  /** A key made as if on `createdMs`, expiring `expiry` later (gpg's `1y`, `never`…). */
  async function keyMadeAt(name: string, createdMs: number, expiry: string): Promise<GpgKey> {
    const userId = `${name} <${name}@example.test>`;
    await run('gpg', ['--batch', '--passphrase', '', '--faked-system-time', gpgTime(createdMs), '--quick-gen-key', userId, 'ed25519', 'sign', expiry], { env: workspace.env });
    const listing = (await run('gpg', ['--batch', '--with-colons', '--list-keys', `<${name}@example.test>`], { env: workspace.env })).stdout;
    const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listing)?.[1];
    assert.ok(fingerprint, listing);
    return { kind: 'openpgp', userId, fingerprint };
  }

  /** A commit dated today whose signature gpg dates `signedMs`, as a signer with a faked clock makes it. */
  async function commitSignedAt(key: GpgKey, signedMs: number, label: string): Promise<string> {
    const wrapper = path.join(workspace.root, `gpg-at-${label}`);
    await writeFile(wrapper, `#!/bin/sh\nexec gpg --faked-system-time '${gpgTime(signedMs)}' "$@"\n`);
    await chmod(wrapper, 0o755);
    await repo.git('add', '-A');
    const time = Math.floor(realNow / 1000);
    await run('git', ['-c', `gpg.program=${wrapper}`, ...workspace.gitSigningArgs(key), 'commit', '--quiet', '--allow-empty', '-S', '-m', label], {
      cwd: repo.workDir,
      env: { ...workspace.env, GIT_AUTHOR_DATE: `@${time} +0000`, GIT_COMMITTER_DATE: `@${time} +0000` },
    });
    return (await repo.git('rev-parse', 'HEAD')).trim();
  }

  async function refusedWith(promise: Promise<unknown>, code: string): Promise<CapstanError> {
    let caught: unknown;
    await assert.rejects(promise, (error: unknown) => {
      caught = error;
      return true;
    });
    assert.ok(caught instanceof CapstanError, `expected a CapstanError, got ${String(caught)}`);
    assert.equal(caught.code, code, caught.message);
    return caught;
  }

  let expired: GpgKey;
  let current: GpgKey;
  let shortLived: GpgKey;

  before(async () => {
    workspace = await createSigningWorkspace();
    repo = await openSignedRepo(workspace, path.join(workspace.root, 'repo'), { init: true });
    // Made four years ago, valid for one: expired three years ago.
    expired = await keyMadeAt('expired', realNow - 4 * 365 * DAY_MS, '1y');
    current = await keyMadeAt('current', realNow - DAY_MS, 'never');
    // Made yesterday, valid for a year.
    shortLived = await keyMadeAt('shortlived', realNow - DAY_MS, '1y');
    const armored = await Promise.all([expired, current, shortLived].map((key) => workspace.exportGpgKey(key)));
    signers = await parseTrustFile(armored.join('\n'), 'trust');
  });
  after(async () => {
    await workspace?.cleanup();
  });

  it('refuses a commit made today by a key that expired years ago, its signature back-dated into the key\'s validity', async () => {
    const commit = await commitSignedAt(expired, realNow - 4 * 365 * DAY_MS + 30 * DAY_MS, 'backdated');
    const error = await refusedWith(verifyAt(commit, realNow), 'UNTRUSTED_SIGNER');
    assert.equal(error.data.fingerprint, expired.fingerprint);
    assert.match(error.message, /expired/);
  });

  it('accepts a key while it is valid and refuses the same signature once the clock passes its expiry', async () => {
    const commit = await commitSignedAt(shortLived, realNow, 'valid-now');
    assert.equal((await verifyAt(commit, realNow)).signer.fingerprint, shortLived.fingerprint);
    const error = await refusedWith(verifyAt(commit, realNow + 2 * 365 * DAY_MS), 'UNTRUSTED_SIGNER');
    assert.match(error.message, /expired/);
  });

  it('still refuses a signature dated in the future', async () => {
    const commit = await commitSignedAt(current, realNow + 30 * DAY_MS, 'future');
    await refusedWith(verifyAt(commit, realNow), 'BAD_SIGNATURE');
    // Once that time has come, the same signature verifies.
    assert.equal((await verifyAt(commit, realNow + 31 * DAY_MS)).signer.fingerprint, current.fingerprint);
  });
});
