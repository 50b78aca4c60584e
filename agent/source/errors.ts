import { CapstanError } from '../errors.js';
import type { ObjectReadError } from './objects.js';

export const GitErrorCode = {
  /** Connection refused, DNS, timeout, 5xx, not a git server: the next cycle tries again. */
  unreachable: 'GIT_UNREACHABLE',
  /** 401/403. Transient so the agent keeps polling once the token is fixed, but logged as such. */
  auth: 'GIT_AUTH',
  branchNotFound: 'GIT_BRANCH_NOT_FOUND',
  /** The cache stayed unreadable after being deleted and fetched afresh. */
  cacheCorrupt: 'GIT_CACHE_CORRUPT',
  /** A local repository (which Capstan does not own, so does not repair) has unreadable objects. */
  repoCorrupt: 'GIT_REPO_CORRUPT',
  /** Asked to check out a commit that is neither fetched nor the branch head. */
  commitNotFound: 'GIT_COMMIT_NOT_FOUND',
  /** A tree entry that would escape the checkout folder. */
  treeUnsafe: 'GIT_TREE_UNSAFE',
  /** Writing the checkout folder failed (disk full, permissions). */
  checkoutFailed: 'GIT_CHECKOUT_FAILED',
  /** `repo` is neither an http(s) URL nor a local path, or carries credentials. */
  configInvalid: 'GIT_CONFIG_INVALID',
} as const;

/** A remote failure, and whether trying again within the same call can help. */
export interface RemoteFailure {
  error: CapstanError;
  retryable: boolean;
}

const networkErrorCodes = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE',
  'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ABORT_ERR', 'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const certificateErrorCodes = new Set([
  'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

interface ErrorShape {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  data?: { statusCode?: unknown; statusMessage?: unknown };
}

/**
 * Sorts an error thrown by isomorphic-git or the HTTP client while talking to the server.
 * Returns undefined for anything else (a local cache problem, a bug): the caller decides.
 * Messages are built here from status codes and error codes only, never from response bodies or
 * headers, so nothing the server echoes back (a token included) can reach a log.
 */
export function classifyRemoteError(cause: unknown, context: { repo: string; operation: string }): RemoteFailure | undefined {
  if (cause instanceof CapstanError) return undefined;
  const shape = (typeof cause === 'object' && cause !== null ? cause : {}) as ErrorShape;
  const code = typeof shape.code === 'string' ? shape.code : '';
  const data = { repo: context.repo, operation: context.operation };

  if (code === 'HttpError') {
    const statusCode = Number(shape.data?.statusCode);
    if (statusCode === 401 || statusCode === 403) {
      return {
        retryable: false,
        error: new CapstanError(GitErrorCode.auth, 'transient',
          `git server refused the credentials (HTTP ${statusCode}) for ${context.repo}: check CAPSTAN_GIT_TOKEN and its read access`,
          { ...data, statusCode }, { cause }),
      };
    }
    const retryable = statusCode >= 500 || statusCode === 408 || statusCode === 429;
    const hint = statusCode === 404 ? ': check the URL (some hosts also answer 404 for a repository the token cannot read)' : '';
    return {
      retryable,
      error: new CapstanError(GitErrorCode.unreachable, 'transient',
        `git server answered HTTP ${statusCode} during ${context.operation} of ${context.repo}${hint}`,
        { ...data, statusCode }, { cause }),
    };
  }
  if (code === 'SmartHttpError' || code === 'UnknownTransportError' || code === 'UrlParseError' || code === 'RemoteCapabilityError') {
    return {
      retryable: false,
      error: new CapstanError(GitErrorCode.unreachable, 'transient',
        `${context.repo} does not answer as a smart-HTTP git server (${code})`, { ...data, gitError: code }, { cause }),
    };
  }
  if (code === 'EmptyServerResponseError') {
    return {
      retryable: true,
      error: new CapstanError(GitErrorCode.unreachable, 'transient',
        `git server sent an empty response during ${context.operation} of ${context.repo}`, { ...data, gitError: code }, { cause }),
    };
  }
  const timedOut = shape.message === 'Request timed out' || shape.name === 'AbortError' || shape.name === 'TimeoutError';
  if (networkErrorCodes.has(code) || timedOut) {
    const reason = timedOut ? 'timed out' : code;
    const hint = certificateErrorCodes.has(code) ? ' (TLS certificate rejected)' : '';
    return {
      retryable: !certificateErrorCodes.has(code),
      error: new CapstanError(GitErrorCode.unreachable, 'transient',
        `git server unreachable during ${context.operation} of ${context.repo}: ${reason}${hint}`,
        { ...data, networkError: reason }, { cause }),
    };
  }
  return undefined;
}

export function branchNotFound(repo: string, branch: string): CapstanError {
  return new CapstanError(GitErrorCode.branchNotFound, 'terminal',
    `branch "${branch}" does not exist in ${repo}`, { repo, branch });
}

export function commitNotFound(repo: string, commit: string): CapstanError {
  return new CapstanError(GitErrorCode.commitNotFound, 'terminal',
    `commit ${commit} is not in ${repo} (only the branch head is fetched)`, { repo, commit });
}

/** A commit id is also a folder name under the state dir: nothing but 40 hex digits gets there. */
export function assertCommitId(repo: string, commit: string): void {
  if (!/^[0-9a-f]{40}$/.test(commit)) {
    throw new CapstanError(GitErrorCode.commitNotFound, 'terminal',
      `${JSON.stringify(commit.slice(0, 80))} is not a full commit id`, { repo });
  }
}

/** The commit object itself is absent (never fetched), as opposed to a damaged store. */
export function readsMissingCommit(error: ObjectReadError, commit: string): boolean {
  return error.oid === commit && (error.cause as { code?: string } | undefined)?.code === 'NotFoundError';
}
