import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CapstanError } from '../errors.js';
import { GitErrorCode } from './errors.js';

export type RepoLocation =
  | { kind: 'http'; url: string }
  | { kind: 'local'; path: string };

/**
 * `https://host/org/repo.git` and `http://…` are fetched into a cache; `/srv/manifests`,
 * `./manifests` and `file:///srv/manifests.git` are read in place. Credentials in the URL are
 * refused: they would end up in logs and error messages, which is why the token has its own
 * variable.
 */
export function parseRepoLocation(repo: string): RepoLocation {
  const trimmed = repo.trim();
  if (trimmed === '') {
    throw new CapstanError(GitErrorCode.configInvalid, 'terminal', 'no repository configured: set --repo or CAPSTAN_REPO');
  }
  if (/^https?:\/\//i.test(trimmed)) {
    let parsed: URL;
    try {
      parsed = new URL(trimmed);
    } catch (cause) {
      throw new CapstanError(GitErrorCode.configInvalid, 'terminal', 'the repository URL does not parse', {}, { cause });
    }
    if (parsed.username !== '' || parsed.password !== '') {
      throw new CapstanError(GitErrorCode.configInvalid, 'terminal',
        'the repository URL carries credentials: remove them and set CAPSTAN_GIT_TOKEN instead',
        { repo: `${parsed.protocol}//${parsed.host}${parsed.pathname}` });
    }
    return { kind: 'http', url: trimmed.replace(/\/+$/, '') };
  }
  if (/^file:\/\//i.test(trimmed)) return { kind: 'local', path: fileURLToPath(trimmed) };
  // ssh://…, git://… and scp-like `git@host:org/repo.git` need transports isomorphic-git lacks.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) || /^[\w.-]+@[\w.-]+:/.test(trimmed)) {
    throw new CapstanError(GitErrorCode.configInvalid, 'terminal',
      'only http(s) URLs and local repository paths are supported', { repo: trimmed.replace(/\/\/[^/@]*@/, '//') });
  }
  return { kind: 'local', path: path.resolve(trimmed) };
}

/** `refs/heads/main` and `main` name the same branch; the rest of the module uses the short form. */
export function shortBranchName(branch: string): string {
  return branch.replace(/^refs\/heads\//, '');
}
