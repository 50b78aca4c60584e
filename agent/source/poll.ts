import git from '../git.js';
import type { Clock } from '../clock.js';
import { CapstanError } from '../errors.js';
import type { Logger } from '../log.js';
import { classifyRemoteError } from './errors.js';
import { locateGitdir } from './local.js';
import { parseRepoLocation, shortBranchName } from './location.js';
import { remoteAccess, withRequestTimeout } from './remote.js';
import type { HttpClient } from './types.js';

// The reference check of `capstan run` (`--poll-interval`): every few seconds one smart-HTTP
// request for the branch head, no pack, separate from the full cycle, which keeps its schedule
// for drift repair. When the head moves, the run command starts a cycle at once.

/** What one reference check found and what it cost. */
export interface HeadProbe {
  /** The branch head; undefined when the branch does not exist. */
  head: string | undefined;
  /** HTTP requests this check made (0 for a local repository). */
  requests: number;
  /** Response body bytes received. */
  bytes: number;
}

export type HeadCheck = () => Promise<HeadProbe>;

/** A failed check; `retryAfterMs` when the server said when to come back (429/503 Retry-After). */
export class PollError extends Error {
  constructor(message: string, readonly statusCode: number | undefined, readonly retryAfterMs: number | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PollError';
  }
}

/** Retry-After larger than this is treated as this: an absurd header must not park the agent for days. */
export const maxRetryAfterMs = 3_600_000;
/** Failed checks back off up to this (or the interval itself, if longer). */
export const maxPollBackoffMs = 300_000;
/**
 * An advertisement (protocol v1, one request) larger than this makes later checks use protocol
 * v2's `ls-refs` limited to the branch: two small requests instead of one big one, for
 * repositories with thousands of refs (pull-request refs on a forge).
 */
export const largeAdvertisementBytes = 32 * 1024;
const pollRequestTimeoutMs = 15_000;

/**
 * The delay before the next check. After a success: the interval ±20 % (uniform), so agents
 * started together drift apart. After `failures` failures in a row (1, 2, …): exponential
 * with "equal jitter", uniform in [c/2, c) where c = min(cap, interval·2^failures) and cap =
 * max(5 min, interval), so a failing server is left alone more and more, never hammered, and
 * a fleet does not come back in step. A Retry-After (capped at 1 h) is a floor: the delay is at
 * least it plus up to 20 % of it more.
 */
export function pollDelay(options: { intervalMs: number; failures: number; retryAfterMs?: number; random: number }): number {
  const { intervalMs, failures } = options;
  const unit = Math.min(Math.max(options.random, 0), 1);
  if (failures <= 0) return Math.round(intervalMs * (0.8 + 0.4 * unit));
  const cap = Math.max(maxPollBackoffMs, intervalMs);
  const ceiling = Math.min(cap, intervalMs * 2 ** Math.min(failures, 30));
  const backoff = ceiling / 2 + (ceiling / 2) * unit;
  if (options.retryAfterMs === undefined) return Math.round(backoff);
  const retryAfter = Math.min(Math.max(options.retryAfterMs, 0), maxRetryAfterMs);
  return Math.round(Math.max(backoff, retryAfter * (1 + 0.2 * unit)));
}

/** Retry-After: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or garbled. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^[0-9]{1,10}$/.test(text)) return Math.min(Number(text) * 1000, maxRetryAfterMs);
  // HTTP dates end in GMT (IMF-fixdate and the obsolete forms alike); Date.parse alone takes '-5'.
  if (text.length > 64 || !/^[A-Za-z]{3}.* GMT$/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(at - nowMs, 0), maxRetryAfterMs);
}

/** `--poll-interval` / CAPSTAN_POLL_INTERVAL: `5s` (default), `500ms`, `1m`; `0` or `off` turns it off. */
export function pollIntervalMs(flag: string | undefined, env: NodeJS.ProcessEnv): number {
  const text = (flag ?? env.CAPSTAN_POLL_INTERVAL ?? '5s').trim();
  if (text === '0' || text === 'off') return 0;
  const match = /^([0-9]{1,7})(ms|s|m|h)$/.exec(text);
  const unit = match ? { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'] : 0;
  const value = match ? Number(match[1]) * unit : Number.NaN;
  if (!(value >= 1_000 && value <= 86_400_000)) {
    throw new CapstanError('CONFIG_INVALID', 'terminal',
      `invalid --poll-interval / CAPSTAN_POLL_INTERVAL '${text}': use a duration from 1s to 24h such as 5s or 1m, or 0 to turn the reference check off`);
  }
  return value;
}

/**
 * One reference check against the configured repository. Remote: one GET of
 * `info/refs?service=git-upload-pack` (protocol v1 advertisement; the first check of a
 * token-protected repository adds the 401 challenge), or protocol v2 `ls-refs` for the branch
 * when the advertisement is large. Local: the branch ref read from disk.
 */
export function createHeadCheck(
  config: { repo: string; branch: string; token?: string; username?: string },
  deps: { fs: typeof import('node:fs'); http: HttpClient; clock: Clock; requestTimeoutMs?: number },
): HeadCheck {
  const location = parseRepoLocation(config.repo);
  const branch = shortBranchName(config.branch);
  const fullRef = `refs/heads/${branch}`;
  if (location.kind === 'local') {
    return async () => {
      const gitdir = await locateGitdir(deps.fs, location.path);
      try {
        return { head: await git.resolveRef({ fs: deps.fs, gitdir, ref: fullRef }), requests: 0, bytes: 0 };
      } catch (error) {
        if ((error as { code?: string }).code === 'NotFoundError') return { head: undefined, requests: 0, bytes: 0 };
        throw new PollError(`refs of the repository at ${location.path} cannot be read`, undefined, undefined, { cause: error });
      }
    };
  }

  // Counts what each check costs and keeps the Retry-After of a refusal, which isomorphic-git's
  // HttpError does not carry.
  let requests = 0;
  let bytes = 0;
  let retryAfter: string | undefined;
  const counting: HttpClient = {
    async request(request) {
      requests++;
      const response = await deps.http.request(request);
      const headers = response.headers ?? {};
      retryAfter = headers['retry-after'] ?? headers['Retry-After'];
      const body = response.body;
      if (!body) return response;
      return {
        ...response,
        body: (async function* () {
          for await (const chunk of body) {
            bytes += chunk.byteLength;
            yield chunk;
          }
        })(),
      };
    },
  };
  const remote = remoteAccess(withRequestTimeout(counting, deps.requestTimeoutMs ?? pollRequestTimeoutMs), location.url, config.token, config.username);
  let protocolVersion: 1 | 2 = 1;

  return async () => {
    requests = 0;
    bytes = 0;
    retryAfter = undefined;
    try {
      const refs = await git.listServerRefs({
        http: remote.http, url: remote.url, onAuth: remote.onAuth, onAuthSuccess: remote.onAuthSuccess,
        prefix: fullRef, protocolVersion,
      });
      if (protocolVersion === 1 && bytes > largeAdvertisementBytes) protocolVersion = 2;
      // The prefix also matches `refs/heads/main-old`.
      return { head: refs.find((ref) => ref.ref === fullRef)?.oid, requests, bytes };
    } catch (error) {
      const failure = classifyRemoteError(error, { repo: location.url, operation: 'ref check' });
      const statusCode = failure?.error.data.statusCode;
      const status = typeof statusCode === 'number' ? statusCode : undefined;
      const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(retryAfter, deps.clock.now()) : undefined;
      // Messages only, no cause: a server may echo request details (the token) in a body.
      const message = failure?.error.message ?? `ref check of ${location.url} failed: ${(error as Error).message}`;
      throw new PollError(scrub(message, config.token), status, retryAfterMs);
    }
  };
}

export interface PollerOptions {
  check: HeadCheck;
  intervalMs: number;
  clock: Clock;
  random?: () => number;
  logger: Logger;
  /** True while a cycle runs: its own fetch sees the head, so the check waits. */
  busy: () => boolean;
  /** The branch moved (or no cycle has seen a head yet): start a cycle now. */
  onMove: (head: string) => void;
}

/**
 * Checks the branch head every interval (jittered) and calls `onMove` when it differs from the
 * last head a cycle saw (`seen`). Failures back off (`pollDelay`) and are logged on the first
 * one and on recovery, not on every check.
 */
export class RefPoller {
  private known: string | undefined;
  private stopped = false;
  private failures = 0;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** Checks made and their cost since start, for the log line at stop and for the bench. */
  readonly totals = { checks: 0, failures: 0, requests: 0, bytes: 0 };

  constructor(private readonly options: PollerOptions) {}

  /**
   * The head the last cycle fetched. Null (the cycle could not fetch) keeps the head the check
   * last reported: a server that answers the check but fails the fetch gets the schedule's
   * retries, not a cycle every few seconds.
   */
  seen(commit: string | null): void {
    if (commit !== null) this.known = commit;
  }

  /** The cycle for the last head did not run (another process held the lock): the next check starts one. */
  forget(): void {
    this.known = undefined;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const wake = () => done();
      this.wake = wake;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
    this.wake = undefined;
  }

  private async run(): Promise<void> {
    const { intervalMs, logger } = this.options;
    const random = this.options.random ?? Math.random;
    let delay = pollDelay({ intervalMs, failures: 0, random: random() });
    while (!this.stopped) {
      await this.sleep(delay);
      if (this.stopped) break;
      if (this.options.busy()) {
        delay = pollDelay({ intervalMs, failures: 0, random: random() });
        continue;
      }
      this.totals.checks++;
      try {
        const probe = await this.options.check();
        this.totals.requests += probe.requests;
        this.totals.bytes += probe.bytes;
        if (this.failures > 0) logger.info({ failures: this.failures }, 'reference check answers again');
        this.failures = 0;
        logger.debug({ head: probe.head?.slice(0, 12), requests: probe.requests, bytes: probe.bytes }, 'reference checked');
        if (probe.head !== undefined && probe.head !== this.known && !this.options.busy()) {
          logger.info({ head: probe.head.slice(0, 12), previous: this.known?.slice(0, 12) ?? null }, 'branch moved, starting a cycle');
          this.known = probe.head;
          this.options.onMove(probe.head);
        }
        delay = pollDelay({ intervalMs, failures: 0, random: random() });
      } catch (error) {
        this.failures++;
        this.totals.failures++;
        const { statusCode, retryAfterMs } = error instanceof PollError ? error : { statusCode: undefined, retryAfterMs: undefined };
        delay = pollDelay({ intervalMs, failures: this.failures, retryAfterMs, random: random() });
        const details = { failures: this.failures, statusCode, retryAfterMs, nextCheckMs: delay, error: (error as Error).message };
        if (this.failures === 1) logger.warn(details, 'reference check failed, backing off');
        else logger.debug(details, 'reference check failed again');
      }
    }
  }
}

function scrub(text: string, secret: string | undefined): string {
  return secret === undefined || secret.length < 4 ? text : text.split(secret).join('[redacted]');
}
