import { CapstanError } from '../errors.js';
import type { GitSource } from './types.js';

const placeholder = '[redacted]';

/**
 * Belt and braces: no code path here puts the token in an error, but a server may echo request
 * details back in a body that isomorphic-git keeps as `cause.data.response`. Any error leaving
 * the source that mentions the token anywhere is rebuilt without it and without its cause.
 */
export function guardSecret(source: GitSource, secret: string | undefined): GitSource {
  if (secret === undefined || secret.length < 4) return source;
  const guard = <A extends unknown[], R>(run: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    try {
      return await run(...args);
    } catch (error) {
      throw withoutSecret(error, secret);
    }
  };
  return { fetch: guard(source.fetch), checkout: guard(source.checkout), prune: guard(source.prune), gitdir: guard(source.gitdir), reach: guard(source.reach) };
}

export function withoutSecret(error: unknown, secret: string): unknown {
  if (!mentions(error, secret)) return error;
  const scrub = (text: string) => text.split(secret).join(placeholder);
  if (error instanceof CapstanError) {
    const data = JSON.parse(scrub(JSON.stringify(error.data))) as Record<string, unknown>;
    return new CapstanError(error.code, error.errorClass, scrub(error.message), data);
  }
  return new Error(scrub(error instanceof Error ? error.message : String(error)));
}

function mentions(error: unknown, secret: string, depth = 0): boolean {
  if (depth > 5 || error === undefined || error === null) return false;
  if (typeof error !== 'object') return String(error).includes(secret);
  const { message, data, cause } = error as { message?: unknown; data?: unknown; cause?: unknown };
  let serializedData = '';
  try {
    serializedData = JSON.stringify(data) ?? '';
  } catch {
    serializedData = '';
  }
  return String(message ?? '').includes(secret) || serializedData.includes(secret) || mentions(cause, secret, depth + 1);
}
