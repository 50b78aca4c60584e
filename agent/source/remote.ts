import git from '../git.js';
import type { AuthCallback, AuthSuccessCallback, HttpClient } from 'isomorphic-git';

type Fs = typeof import('node:fs');

export interface RemoteAccess {
  http: HttpClient;
  url: string;
  /** Undefined when the repository is public. */
  onAuth?: AuthCallback;
  onAuthSuccess?: AuthSuccessCallback;
}

/**
 * The token goes through `onAuth`, answered after the server's 401, so it is first sent only to a
 * server that asks for it, and is never part of a URL that could be stored or logged. Once the
 * server has accepted it, this source's later requests to the same repository carry it up front:
 * one request and one git-http-backend run instead of a 401 and a retry (`afterFetch` gets the
 * same client, so its requests too). A 401 despite the header still goes through `onAuth`.
 */
export function remoteAccess(http: HttpClient, url: string, token: string | undefined, username: string | undefined): RemoteAccess {
  if (token === undefined || token === '') return { http, url };
  const credentials = { username: username ?? 'x-access-token', password: token };
  const authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  let accepted = false;
  return {
    url,
    onAuth: () => ({ ...credentials }),
    onAuthSuccess: () => {
      accepted = true;
    },
    http: {
      // Headers isomorphic-git sets itself (its retry after a 401) take precedence.
      request: (request) => http.request(accepted && request.url.startsWith(`${url}/`)
        ? { ...request, headers: { Authorization: authorization, ...request.headers } }
        : request),
    },
  };
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
    onAuthSuccess: remote.onAuthSuccess,
    prefix: fullRef,
    protocolVersion: 2,
  });
  // The prefix also matches `refs/heads/main-old`.
  return refs.find((ref) => ref.ref === fullRef)?.oid;
}

/**
 * Shallow, single-branch fetch into the cache. The local ref named `ref` doubles as the "have"
 * isomorphic-git offers, so objects the cached head holds are not downloaded again.
 * Returns the commit fetched, which can be newer than an earlier `readRemoteHead`, or undefined
 * when the remote has no refs at all (emptied since).
 */
export async function fetchBranch(fs: Fs, gitdir: string, remote: RemoteAccess, branch: string, localRef: string, since?: Date, depth = 1): Promise<string | undefined> {
  const result = await git.fetch({
    fs,
    http: remote.http,
    gitdir,
    url: remote.url,
    onAuth: remote.onAuth,
    onAuthSuccess: remote.onAuthSuccess,
    ref: localRef,
    remoteRef: `refs/heads/${branch}`,
    singleBranch: true,
    // With `since` (deepen-since), the commits from then on, negotiated against the cached head
    // the local ref names: only what changed travels. Without, one commit and its whole tree.
    // `depth` above 1 deepens a shallow cache (`capstan pin` of an older commit).
    ...(since ? { since } : { depth }),
    tags: false,
  });
  return result.fetchHead ?? undefined;
}
