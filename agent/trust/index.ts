/**
 * Deploy only what trusted keys signed: the branch head's commit signature (SSH or OpenPGP), or
 * a signed annotated tag naming it, checked against the host's trust file, plus an optional
 * guard against rewinds. The composition root loads the trust file once per cycle and calls
 * verifyRevision between the source's fetch and checkout.
 */
export { loadTrustFile, parseTrustFile } from './trust-file.js';
export { verifyRevision } from './verify-revision.js';
export { fetchTagsAt } from './fetch-tags.js';
export type { TrustedSigner, TrustPolicy, Verified } from './types.js';
