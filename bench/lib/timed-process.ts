import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { RssSampler } from './rss.js';

export interface TimedResult {
  wallMs: number;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** Highest VmRSS seen, MB, when `sampleRss` was asked for. */
  peakRssMb?: number;
}

export interface TimedOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  sampleRss?: boolean;
  /** Non-zero exit codes that still count as success (`capstan plan` exits 2 on pending changes). */
  allowExitCodes?: number[];
}

/**
 * Runs a command to completion and measures its wall time from spawn to exit, process start-up
 * included, as a user running it by hand or from cron pays it. Throws on a non-zero exit, so a
 * failed run is never reported as a fast one.
 */
export async function timed(command: string, args: string[], options: TimedOptions = {}): Promise<TimedResult> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const startedAt = performance.now();
  const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const sampler = options.sampleRss && child.pid !== undefined ? new RssSampler(child.pid) : undefined;
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  }).finally(() => {
    clearTimeout(timer);
    sampler?.stop();
  });
  const result: TimedResult = {
    wallMs: performance.now() - startedAt,
    exitCode,
    stdout: Buffer.concat(stdout).toString(),
    stderr: Buffer.concat(stderr).toString(),
    peakRssMb: sampler?.peakMb(),
  };
  if (exitCode !== 0 && !(exitCode !== null && options.allowExitCodes?.includes(exitCode))) {
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-5).join('\n');
    throw new Error(`${command} ${args.join(' ')} exited ${exitCode ?? 'by signal (timeout?)'}:\n${tail}`);
  }
  return result;
}
