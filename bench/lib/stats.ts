/** Median of the samples; the mean of the two middle ones for an even count. NaN when empty. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** capstan / reference, rounded to 2 decimals; null when either side is missing or zero. */
export function ratio(capstan: number | null, reference: number | null): number | null {
  if (capstan === null || reference === null || !Number.isFinite(capstan) || !Number.isFinite(reference) || reference === 0) return null;
  return Math.round((capstan / reference) * 100) / 100;
}

export function round(value: number, decimals = 0): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}
