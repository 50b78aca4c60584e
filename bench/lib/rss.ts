import { readFileSync } from 'node:fs';

/** 100 ms for up to 30 minutes: enough for the longest converge, bounded all the same. */
const intervalMs = 100;
const maxSamples = 18_000;

export interface RssSample {
  atMs: number;
  mb: number;
}

/**
 * Samples a process's resident set (VmRSS in /proc/<pid>/status) every 100 ms until stopped or
 * the process is gone.
 */
export class RssSampler {
  readonly samples: RssSample[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Highest sample since `fromMs` (Date.now() time), MB. */
  peakMb(fromMs = 0, toMs = Number.POSITIVE_INFINITY): number | undefined {
    const window = this.samples.filter((sample) => sample.atMs >= fromMs && sample.atMs <= toMs);
    return window.length === 0 ? undefined : Math.max(...window.map((sample) => sample.mb));
  }

  inWindow(fromMs: number, toMs: number): number[] {
    return this.samples.filter((sample) => sample.atMs >= fromMs && sample.atMs <= toMs).map((sample) => sample.mb);
  }

  private sample(): void {
    if (this.samples.length >= maxSamples) return this.stop();
    const mb = readRssMb(this.pid);
    if (mb === undefined) return this.stop();
    this.samples.push({ atMs: Date.now(), mb });
  }
}

export function readRssMb(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}
