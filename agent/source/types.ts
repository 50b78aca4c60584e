import type { HttpClient } from 'isomorphic-git';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { BackoffPolicy } from './retry.js';

export type { HttpClient };

export interface SourceConfig {
  /** HTTPS/HTTP URL, or a local path / `file://` URL of a repository (bare or not). */
  repo: string;
  branch: string;
  /** Holds `git/` (the fetch cache) and `checkouts/`. */
  stateDir: string;
  /** HTTP basic auth, first sent in answer to a 401 (see remote.ts); never logged, never written to disk. */
  token?: string;
  /** Basic-auth user name sent with the token; GitHub and Gitea accept `x-access-token`. */
  username?: string;
}

export interface Checkout {
  commit: string;
  /** Absolute path of the materialized tree. */
  dir: string;
  /** `Name <email>` of the commit's author. */
  author: string;
  /** First line of the commit message. */
  message: string;
  /** Committer time, ISO 8601 UTC. */
  committedAt: string;
}

export interface GitSource {
  /**
   * Fetch the branch and return its head commit (cheap when nothing changed). `head`: the branch
   * head a reference check read moments ago (`capstan run`'s poll); a remote source then fetches
   * it without asking the server for the head again (one ls-refs, two requests, less). The fetch
   * still brings the newest commit when the branch moved on meanwhile.
   */
  fetch(head?: string): Promise<string>;
  /**
   * Materialize a fetched commit into `<stateDir>/checkouts/<commit>/` (idempotent; written to a
   * temp dir then renamed, so a crash never leaves a half-written checkout that looks complete).
   */
  checkout(commit: string): Promise<Checkout>;
  /** Remove checkouts except the listed commits (the applied one and the rollback one). */
  prune(keep: string[]): Promise<void>;
  /** The git directory holding fetched objects, for reading commits and tags (signature checks). */
  gitdir(): Promise<string>;
  /**
   * `capstan pin`: how many commits the branch head `head` (just fetched) is ahead of `commit`,
   * once `commit` is found in its history, fetching deeper first when a shallow cache stops short
   * of it. Throws PIN_NOT_IN_BRANCH (terminal) when the branch does not hold it.
   */
  reach(commit: string, head: string): Promise<number>;
}

/** What `afterFetch` gets: the cache a remote fetch just updated, and how to reach the remote. */
export interface FetchedContext {
  fs: typeof import('node:fs');
  http: HttpClient;
  gitdir: string;
  url: string;
  onAuth?: import('isomorphic-git').AuthCallback;
  branch: string;
  /** The branch head just fetched. */
  commit: string;
}

export interface SourceDeps {
  fs: typeof import('node:fs');
  http: HttpClient;
  logger: Logger;
  clock: Clock;
  /** Uniform in [0, 1); the jitter of the backoff. Defaults to Math.random. */
  random?: () => number;
  backoff?: BackoffPolicy;
  /** A request whose socket stays silent this long fails (and is retried). */
  requestTimeoutMs?: number;
  /**
   * Runs after each fetch from a remote, as a retried remote operation: e.g. fetching the tags
   * that name the head when deploys are gated on signed tags. Local repositories need none.
   */
  afterFetch?: (context: FetchedContext) => Promise<void>;
}
