import type { OutgoingRequest } from './format.js';

export type FetchFn = typeof fetch;

export type DeliveryResult =
  | { outcome: 'delivered'; status: number }
  | { outcome: 'retry'; error: string }
  | { outcome: 'permanent'; error: string };

/**
 * Only 2xx delivers. 408 and 429 say "later", 5xx may heal: retried. Other 4xx (a deleted
 * webhook, a bad token) will not heal by themselves: given up at once. A redirect is refused
 * rather than followed, so a token never travels to an address nobody configured.
 */
export function classifyStatus(status: number): DeliveryResult['outcome'] {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'permanent';
}

/** POSTs once, bounded by `timeoutMs`. Never throws; errors name no URL (it may be a credential). */
export async function deliver(fetchFn: FetchFn, url: string, request: OutgoingRequest, timeoutMs: number): Promise<DeliveryResult> {
  let response: Response;
  try {
    response = await fetchFn(url, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return { outcome: 'retry', error: describeNetworkError(error, url, timeoutMs) };
  }
  // The body is not needed, but reading (or cancelling) it frees the connection.
  await response.body?.cancel().catch(() => undefined);
  const outcome = classifyStatus(response.status);
  if (outcome === 'delivered') return { outcome, status: response.status };
  const redirected = response.status >= 300 && response.status < 400 ? ' (redirect refused: configure the final URL)' : '';
  return { outcome, error: `HTTP ${response.status}${redirected}` };
}

function describeNetworkError(error: unknown, url: string, timeoutMs: number): string {
  const name = (error as { name?: string }).name;
  if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const text = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
  return text.split(url).join('<target url>');
}
