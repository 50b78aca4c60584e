/**
 * Runs `work` on every item with at most `limit` calls in flight. After the first failure no new
 * call starts; the calls in flight are awaited, so nothing is still writing when the caller
 * cleans up, and then the first error is thrown.
 */
export async function forEachBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let nextIndex = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && nextIndex < items.length) {
      const item = items[nextIndex++];
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure !== undefined) throw failure.error;
}
