import path from 'node:path';
import git from '../git.js';
import { CapstanError } from '../errors.js';
import { createCache, hasCommit, inspectCache, removeCache, trackingRef } from './cache.js';
import { readVerifiedCheckout, pruneCheckouts, writeCheckout } from './checkouts.js';
import { GitErrorCode, branchNotFound, classifyRemoteError, assertCommitId, commitNotFound, readsMissingCommit } from './errors.js';
import { ObjectReadError } from './objects.js';
import { distanceFrom, pinNotInBranch, PIN_WALK_LIMIT } from './ancestry.js';
import { fetchBranch, readRemoteHead, remoteAccess, withRequestTimeout } from './remote.js';
import { defaultBackoff, withRetry } from './retry.js';
import type { Checkout, GitSource, SourceDeps } from './types.js';

/**
 * Each fetch that changes something adds one pack; past this many the cache is fetched afresh
 * (one depth-1 pack) instead of letting every later object lookup scan a growing list.
 */
const maxPackCount = 50;
const defaultRequestTimeoutMs = 30_000;

export interface HttpSourceConfig {
  url: string;
  branch: string;
  stateDir: string;
  token?: string;
  username?: string;
}

/**
 * A remote repository mirrored into `<stateDir>/git/`: a bare, shallow (depth 1), single-branch
 * cache whose `refs/remotes/origin/<branch>` just moves, force-pushes included. The cache is
 * disposable: whatever looks damaged is deleted and fetched afresh, once per call.
 */
export function createHttpSource(config: HttpSourceConfig, deps: SourceDeps): GitSource {
  const { fs, logger, clock } = deps;
  const gitdir = path.join(path.resolve(config.stateDir), 'git');
  const remote = remoteAccess(
    withRequestTimeout(deps.http, deps.requestTimeoutMs ?? defaultRequestTimeoutMs), config.url, config.token, config.username);
  const policy = deps.backoff ?? defaultBackoff;
  const random = deps.random ?? Math.random;
  const logContext = { repo: config.url, branch: config.branch };
  let writeCount = 0;
  const uniqueSuffix = () => `${process.pid}-${clock.now()}-${++writeCount}`;

  async function remoteOperation<T>(operation: string, run: () => Promise<T>): Promise<T> {
    const classify = (error: unknown) => classifyRemoteError(error, { repo: config.url, operation });
    try {
      return await withRetry(run, {
        policy, clock, random,
        isRetryable: (error) => classify(error)?.retryable ?? false,
        onRetry: ({ attempt, delayMs, error }) =>
          logger.warn({ ...logContext, operation, attempt, delayMs, code: classify(error)?.error.code }, 'git request failed, retrying'),
      });
    } catch (error) {
      const failure = classify(error);
      if (failure === undefined) throw error;
      // Transient like an outage, yet no retry will fix it: said loudly here, once per cycle.
      if (failure.error.code === GitErrorCode.auth) {
        logger.error({ ...logContext, operation, statusCode: failure.error.data.statusCode }, 'git server refused the credentials');
      }
      throw failure.error;
    }
  }

  async function prepareCache(): Promise<void> {
    const inspection = await inspectCache(fs, gitdir, config.branch);
    if (inspection.state === 'ok' && inspection.packCount <= maxPackCount) return;
    if (inspection.state === 'corrupt') {
      logger.warn({ ...logContext, problem: inspection.problem }, 'git cache damaged, fetching afresh');
    } else if (inspection.state === 'ok') {
      logger.info({ ...logContext, packCount: inspection.packCount }, 'git cache compacted by fetching afresh');
    }
    await removeCache(fs, gitdir);
    await createCache(fs, gitdir, config.url, config.branch, uniqueSuffix());
  }

  async function fetchIntoCache(remoteHead: string): Promise<string> {
    await prepareCache();
    if (await hasCommit(fs, gitdir, remoteHead)) {
      // Also covers a force-push back to a commit fetched earlier.
      await git.writeRef({ fs, gitdir, ref: trackingRef(config.branch), value: remoteHead, force: true });
      return remoteHead;
    }
    const fetched = await fetchChanges() ?? await remoteOperation('fetch', () => fetchBranch(fs, gitdir, remote, config.branch, trackingRef(config.branch)));
    if (fetched === undefined) throw branchNotFound(config.url, config.branch);
    if (!(await hasCommit(fs, gitdir, fetched))) throw new Error(`commit ${fetched} is not readable right after its fetch`);
    logger.info({ ...logContext, commit: fetched }, 'git branch fetched');
    return fetched;
  }

  /**
   * A new commit on top of the cached head: deepen-since the cached head's committer time, so the
   * server sends the commits from then on and, negotiated against the cached head, only the
   * objects they changed (a one-file change: a few objects, not the whole tree again). Undefined
   * when there is no cached head, or when the server refuses or selects nothing (a force-push to
   * an older commit, committer clocks out of order): the caller then fetches depth 1 as before.
   */
  async function fetchChanges(): Promise<string | undefined> {
    let since: Date;
    try {
      const cached = await git.resolveRef({ fs, gitdir, ref: trackingRef(config.branch) });
      const { commit } = await git.readCommit({ fs, gitdir, oid: cached });
      since = new Date(commit.committer.timestamp * 1000);
    } catch {
      return undefined;
    }
    try {
      const fetched = await remoteOperation('fetch', () => fetchBranch(fs, gitdir, remote, config.branch, trackingRef(config.branch), since));
      if (fetched === undefined || (await hasCommit(fs, gitdir, fetched))) return fetched;
      // The server selected no commit since then (git-http-backend sends an empty pack).
      logger.info({ ...logContext, commit: fetched }, 'incremental fetch brought nothing, fetching the head at depth 1');
      return undefined;
    } catch (error) {
      // Refused credentials or an unreachable server (already retried) fail a depth-1 fetch too.
      if (error instanceof CapstanError) throw error;
      logger.info({ ...logContext, problem: describe(error) }, 'incremental fetch refused, fetching the head at depth 1');
      return undefined;
    }
  }

  /**
   * Runs `run`; if it fails on the cache (anything but a classified CapstanError), deletes the
   * cache and runs it once more. A second failure is reported, not retried: the next cycle
   * starts over.
   */
  async function repairing<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof CapstanError) throw error;
      logger.warn({ ...logContext, operation, problem: describe(error) }, 'git cache unreadable, fetching afresh');
      await removeCache(fs, gitdir);
      try {
        return await run();
      } catch (second) {
        if (second instanceof CapstanError) throw second;
        throw new CapstanError(GitErrorCode.cacheCorrupt, 'transient',
          `the git cache at ${gitdir} stays unreadable after fetching afresh: ${describe(second)}`,
          { ...logContext, gitdir, operation }, { cause: second });
      }
    }
  }

  async function fetchHead(knownHead?: string): Promise<string> {
    const remoteHead = knownHead !== undefined && /^[0-9a-f]{40}$/.test(knownHead)
      ? knownHead
      : await remoteOperation('ls-refs', () => readRemoteHead(remote, config.branch));
    if (remoteHead === undefined) throw branchNotFound(config.url, config.branch);
    const commit = await repairing('fetch', () => fetchIntoCache(remoteHead));
    const { afterFetch } = deps;
    if (afterFetch) {
      const context = { fs, http: remote.http, gitdir, url: config.url, onAuth: remote.onAuth, branch: config.branch, commit };
      await remoteOperation('after-fetch', () => afterFetch(context));
    }
    return commit;
  }

  async function checkout(commit: string): Promise<Checkout> {
    assertCommitId(config.url, commit);
    const completed = await readVerifiedCheckout(fs, config.stateDir, commit, logger);
    if (completed) return completed;
    const write = () => writeCheckout(fs, config.stateDir, commit, gitdir, logger, uniqueSuffix());
    try {
      return await write();
    } catch (error) {
      if (!(error instanceof ObjectReadError)) throw error;
      // A commit simply not fetched yet needs a fetch, not a new cache.
      if (!readsMissingCommit(error, commit)) {
        logger.warn({ ...logContext, commit, oid: error.oid, problem: describe(error.cause) }, 'git cache unreadable, fetching afresh');
        await removeCache(fs, gitdir);
      }
      await fetchHead();
      try {
        return await write();
      } catch (second) {
        if (!(second instanceof ObjectReadError)) throw second;
        if (readsMissingCommit(second, commit)) throw commitNotFound(config.url, commit);
        throw new CapstanError(GitErrorCode.cacheCorrupt, 'transient',
          `object ${second.oid} of commit ${commit} stays unreadable after fetching afresh`,
          { ...logContext, gitdir, commit, oid: second.oid }, { cause: second });
      }
    }
  }

  /**
   * The cache is shallow: a pinned commit older than what the last fetches brought is fetched by
   * deepening the branch from its head (100 commits, then the walk limit), each fetch sending
   * only what the cache lacks. A commit that is not found then is not in the branch.
   */
  async function reach(commit: string, head: string): Promise<number> {
    assertCommitId(config.url, commit);
    for (const depth of [0, 100, PIN_WALK_LIMIT]) {
      if (depth > 0) {
        logger.info({ ...logContext, commit, depth }, 'fetching deeper for the pinned commit');
        await remoteOperation('fetch', () => fetchBranch(fs, gitdir, remote, config.branch, trackingRef(config.branch), undefined, depth));
      }
      const found = await distanceFrom(fs, gitdir, head, commit);
      if (found.state === 'found') return found.ahead;
      if (found.state === 'absent') throw pinNotInBranch(config.url, config.branch, commit, 'not found in its whole history');
    }
    throw pinNotInBranch(config.url, config.branch, commit, `not found in its last ${PIN_WALK_LIMIT} commits`);
  }

  return {
    fetch: fetchHead,
    reach,
    checkout,
    prune: (keep) => pruneCheckouts(fs, config.stateDir, keep, logger),
    gitdir: async () => gitdir,
  };
}

/** One line for a log: isomorphic-git's InternalError keeps its detail in `data.message`. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { code, data } = error as { code?: unknown; data?: { message?: unknown } };
  const detail = typeof data?.message === 'string' ? data.message : error.message.split('\n')[0];
  return typeof code === 'string' ? `${code}: ${detail}` : detail;
}
