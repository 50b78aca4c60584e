import path from 'node:path';
import { createHttpSource } from './http.js';
import { createLocalSource } from './local.js';
import { parseRepoLocation, shortBranchName } from './location.js';
import { guardSecret } from './redact.js';
import type { GitSource, SourceConfig, SourceDeps } from './types.js';

export type { Checkout, GitSource, HttpClient, SourceConfig, SourceDeps } from './types.js';
export { GitErrorCode } from './errors.js';

/**
 * The source stage: resolves `config.branch` to a commit and materializes commits under
 * `<stateDir>/checkouts/`. `fs` and `http` come from the composition root (`node:fs` and
 * `isomorphic-git/http/node`).
 */
export function createGitSource(config: SourceConfig, deps: SourceDeps): GitSource {
  const location = parseRepoLocation(config.repo);
  const branch = shortBranchName(config.branch);
  const stateDir = path.resolve(config.stateDir);
  if (location.kind === 'local') return createLocalSource({ path: location.path, branch, stateDir }, deps);
  const source = createHttpSource({ url: location.url, branch, stateDir, token: config.token, username: config.username }, deps);
  return guardSecret(source, config.token);
}
