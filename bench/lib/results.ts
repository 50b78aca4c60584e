import { rename, writeFile } from 'node:fs/promises';

/**
 * One figure of the report. Times are medians in ms; memory rows use `capstan_mb`, write-count
 * rows `capstan_writes` (and their `reference_` twins), with the `_ms` fields null.
 */
export interface Figure {
  figure: number;
  name: string;
  N: number;
  capstan_ms: number | null;
  reference_ms: number | null;
  /** capstan / reference; null when there is no reference. */
  ratio: number | null;
  /** The target in words, or null for figures reported without one. */
  target: string | null;
  met: boolean | null;
  reference: string;
  capstan_mb?: number | null;
  reference_mb?: number | null;
  capstan_writes?: number | null;
  reference_writes?: number | null;
  capstan_bytes?: number | null;
  /** When the figure's measurements ended (ISO 8601 UTC); rows of a partial run differ. */
  measured_at?: string;
  /** Every sample behind the medians, in run order. */
  samples: { capstan: number[]; reference: number[] };
  notes?: string;
}

/** Written to a temp file and renamed, so a crash never leaves a half-written results.json. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}
