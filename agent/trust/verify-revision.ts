import type { Clock } from '../clock.js';
import { CapstanError } from '../errors.js';
import { GitErrorCode } from '../source/index.js';
import { TrustError, TrustErrorCode } from './errors.js';
import { findAncestry, rewindVerdict } from './rewind.js';
import { readRawObject, splitSignedCommit, type SignedCommit } from './signed-object.js';
import { findTagCandidates } from './tag-candidates.js';
import type { SignatureVerdict, TrustPolicy, Verified } from './types.js';
import { checkSignature } from './verify-signature.js';

type SignatureRefusal = Extract<SignatureVerdict, { ok: false }>;

type Fs = typeof import('node:fs');

export interface VerifyRevisionInput {
  fs: Fs;
  /** The repository holding `commit`: the source's cache, or the local repository's git dir. */
  gitdir: string;
  commit: string;
  policy: TrustPolicy;
  /** The last applied (so last verified) commit; null before the first deploy. */
  appliedCommit: string | null;
  /**
   * Committer time of the applied commit (ISO 8601, e.g. its Checkout's `committedAt`). Needed
   * by the rewind check when the applied commit is no longer in `gitdir` (a re-created cache).
   */
  appliedCommittedAt?: string;
  /** Key validity (`valid-after`, `valid-before`, OpenPGP expiry and revocation) is judged at `clock.now()`, never at the signature's own date. */
  clock: Clock;
}

/**
 * Decides whether `commit` may be deployed under `policy`. Resolves with who signed it; rejects
 * with a terminal TrustError (UNSIGNED_COMMIT, UNTRUSTED_SIGNER, BAD_SIGNATURE, REVOKED_KEY,
 * NO_SIGNED_TAG, REWIND_REFUSED) whose `data` names the commit and, when known, the signer's
 * fingerprint. Reads `gitdir` only; changes nothing.
 */
export async function verifyRevision(input: VerifyRevisionInput): Promise<Verified> {
  const { fs, gitdir, commit, policy } = input;
  const now = new Date(input.clock.now());
  const signedCommit = await readCommit(fs, gitdir, commit);
  const committedAt = new Date(signedCommit.committerTime * 1000).toISOString();

  let verified: Verified;
  if (policy.mode === 'tag') {
    verified = { ...(await verifyByTag(input, now)), commit, mode: 'tag', committedAt };
  } else {
    const verdict = await checkSignature(signedCommit, policy.signers, now);
    if (!verdict.ok) throw refusal(verdict, { commit }, `commit ${commit}`);
    verified = { commit, mode: 'commit', signer: verdict.signer, committedAt };
  }

  await checkRewind(input, signedCommit, verified);
  return verified;
}

async function verifyByTag(input: VerifyRevisionInput, now: Date): Promise<Pick<Verified, 'signer' | 'tag'>> {
  const pattern = input.policy.tagPattern ?? '*';
  const { annotated, lightweight } = await findTagCandidates(input.fs, input.gitdir, input.commit, pattern);
  const failures: Array<{ tag: string; verdict: SignatureRefusal }> = [];
  for (const tag of annotated) {
    const verdict = await checkSignature(tag, input.policy.signers, now);
    if (verdict.ok) return { signer: verdict.signer, tag: tag.tagName };
    failures.push({ tag: tag.tagName, verdict });
  }
  const tried = failures.map(({ tag, verdict }) => ({ tag, code: verdict.code, reason: verdict.reason, fingerprint: verdict.fingerprint }));
  const worst = [...failures].sort((left, right) => severity[right.verdict.code] - severity[left.verdict.code])[0];
  if (worst === undefined || worst.verdict.code === TrustErrorCode.unsignedCommit) {
    const hint = lightweight.length > 0 ? ` (lightweight tags ${lightweight.join(', ')} cannot be signed: use \`git tag -s\`)` : '';
    const what = annotated.length > 0 ? `no signed annotated tag matching "${pattern}"` : `no annotated tag matching "${pattern}"`;
    throw new TrustError(TrustErrorCode.noSignedTag, `commit ${input.commit} is refused: ${what} points at it${hint}`,
      { commit: input.commit, tagPattern: pattern, tags: tried, lightweightTags: lightweight });
  }
  throw refusal(worst.verdict, { commit: input.commit, tag: worst.tag, tags: tried }, `tag ${worst.tag} of commit ${input.commit}`);
}

/** When no tag verifies, the one to report: a forged signature matters more than a missing one. */
const severity: Record<SignatureRefusal['code'], number> = {
  [TrustErrorCode.unsignedCommit]: 0,
  [TrustErrorCode.untrustedSigner]: 1,
  [TrustErrorCode.revokedKey]: 2,
  [TrustErrorCode.badSignature]: 3,
};

async function checkRewind(input: VerifyRevisionInput, head: SignedCommit, verified: Verified): Promise<void> {
  const { fs, gitdir, appliedCommit, policy } = input;
  if (policy.allowRewind || appliedCommit === null || appliedCommit === head.oid) return;
  const appliedTime = await readCommitterTime(fs, gitdir, appliedCommit) ?? parseTime(input.appliedCommittedAt);
  const verdict = rewindVerdict({
    head: { commit: head.oid, committerTime: head.committerTime },
    applied: { commit: appliedCommit, committerTime: appliedTime },
    ancestry: await findAncestry(fs, gitdir, head.oid, appliedCommit),
  }, policy.allowRewind);
  if (!verdict.refused) return;
  throw new TrustError(TrustErrorCode.rewindRefused,
    `commit ${head.oid} is refused: ${verdict.reason} (${appliedCommit}); allow rewinds to deploy it`,
    { commit: head.oid, appliedCommit, fingerprint: verified.signer.fingerprint, tag: verified.tag });
}

function refusal(verdict: SignatureRefusal, data: Record<string, unknown>, subject: string): TrustError {
  const signer = verdict.fingerprint === undefined ? '' : ` (key ${verdict.fingerprint})`;
  const what: Record<string, string> = {
    [TrustErrorCode.unsignedCommit]: 'is not signed',
    [TrustErrorCode.untrustedSigner]: 'is signed by a key the trust file does not allow',
    [TrustErrorCode.badSignature]: 'has a signature that does not verify',
    [TrustErrorCode.revokedKey]: 'is signed by a revoked key',
  };
  return new TrustError(verdict.code, `${subject} ${what[verdict.code]}${signer}: ${verdict.reason}`,
    { ...data, fingerprint: verdict.fingerprint, signatureFormat: verdict.format, reason: verdict.reason });
}

async function readCommit(fs: Fs, gitdir: string, commit: string): Promise<SignedCommit> {
  try {
    return splitSignedCommit(commit, await readRawObject(fs, gitdir, commit, 'commit'));
  } catch (cause) {
    throw new CapstanError(GitErrorCode.commitNotFound, 'transient',
      `commit ${commit} cannot be read from ${gitdir} to verify its signature`, { commit, gitdir }, { cause });
  }
}

async function readCommitterTime(fs: Fs, gitdir: string, commit: string): Promise<number | undefined> {
  try {
    return splitSignedCommit(commit, await readRawObject(fs, gitdir, commit, 'commit')).committerTime;
  } catch {
    return undefined;
  }
}

function parseTime(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const milliseconds = Date.parse(iso);
  return Number.isNaN(milliseconds) ? undefined : Math.floor(milliseconds / 1000);
}
