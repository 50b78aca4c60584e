import git, { type AuthCallback, type HttpClient } from 'isomorphic-git';

type Fs = typeof import('node:fs');

export interface RemoteAccess {
  http: HttpClient;
  url: string;
  /** Undefined when the repository is public. */
  onAuth?: AuthCallback;
}

/**
 * The token goes through `onAuth`, answered after the server's 401, so it is sent only to a
 * server that asks for it and is never part of a URL that could be stored or logged.
 */
export function basicAuth(token: string | undefined, username: string | undefined): AuthCallback | undefined {
  if (token === undefined || token === '') return undefined;
  return () => ({ username: username ?? 'x-access-token', password: token });
}

/**
 * simple-get (under isomorphic-git's node client) waits forever on a silent socket unless given
 * a timeout; a hung server would otherwise stall every later cycle.
 */
export function withRequestTimeout(http: HttpClient, timeoutMs: number): HttpClient {
  return {
    request: (request) => http.request({ ...request, fetchOptions: { ...request.fetchOptions, timeout: timeoutMs } }),
  };
}

/**
 * The branch head from the ref advertisement: with protocol v2 one `ls-refs` limited to the
 * branch, so a repository with thousands of pull-request refs costs a few hundred bytes.
 * Undefined when the branch does not exist.
 */
export async function readRemoteHead(remote: RemoteAccess, branch: string): Promise<string | undefined> {
  const fullRef = `refs/heads/${branch}`;
  const refs = await git.listServerRefs({
    http: remote.http,
    url: remote.url,
    onAuth: remote.onAuth,
    prefix: fullRef,
    protocolVersion: 2,
  });
  // The prefix also matches `refs/heads/main-old`.
  return refs.find((ref) => ref.ref === fullRef)?.oid;
}

/**
 * Shallow, single-branch fetch into the cache. The local ref named `ref` doubles as the "have"
 * isomorphic-git offers, so an unchanged tree is not downloaded again.
 * Returns the commit fetched, which can be newer than an earlier `readRemoteHead`, or undefined
 * when the remote has no refs at all (emptied since).
 */
export async function fetchBranch(fs: Fs, gitdir: string, remote: RemoteAccess, branch: string, localRef: string): Promise<string | undefined> {
  const result = await git.fetch({
    fs,
    http: remote.http,
    gitdir,
    url: remote.url,
    onAuth: remote.onAuth,
    ref: localRef,
    remoteRef: `refs/heads/${branch}`,
    singleBranch: true,
    depth: 1,
    tags: false,
  });
  return result.fetchHead ?? undefined;
}
