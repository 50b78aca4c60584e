/**
 * Deploy only what trusted keys signed: the branch head's commit signature (SSH or OpenPGP), or
 * a signed annotated tag naming it, checked against the host's trust file, plus an optional
 * guard against rewinds. The composition root loads the trust file once per cycle and calls
 * verifyRevision between the source's fetch and checkout.
 */
export { loadTrustFile, parseTrustFile } from './trust-file.js';
export { verifyRevision, type VerifyRevisionInput } from './verify-revision.js';
export { fetchTagsAt, type TagFetchInput } from './fetch-tags.js';
export { TrustError, TrustErrorCode } from './errors.js';
export { globMatches } from './glob.js';
export type { OpenPgpSigner, RevokedKey, SignerIdentity, SshSigner, TrustedSigner, TrustPolicy, Verified } from './types.js';
