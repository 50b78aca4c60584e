import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { repoRoot } from '../lib/paths.js';
import type { Figure } from '../lib/results.js';
import { round } from '../lib/stats.js';
import { timed } from '../lib/timed-process.js';

interface ServerStats {
  requests: number;
  errors: number;
  cpuMs: number;
}

interface PollerReport {
  checks: number;
  failures: number;
  latencies: number[];
}

function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Figure 7, the fleet on loopback: BENCH_FLEET_AGENTS (1,000) simulated agents, each the agent's
 * own reference-check loop (RefPoller + createHeadCheck), in BENCH_FLEET_PROCESSES (4) processes,
 * against one git smart-HTTP server (git-http-backend as CGI, one run per request, as behind
 * Apache or nginx+fcgiwrap) in a process of its own. After a warm-up of 2.2 intervals (every agent
 * started at a random phase and past its 401 challenge), the server's requests and CPU (its own
 * and its CGI children's, from /proc) are counted over a window; at 5 s and at 60 s.
 */
export async function fleetSimulation(context: BenchContext): Promise<Figure[]> {
  const agents = Number(process.env.BENCH_FLEET_AGENTS ?? 1_000);
  const processes = Number(process.env.BENCH_FLEET_PROCESSES ?? 4);
  const settings = [
    { intervalMs: 5_000, windowMs: 30_000 },
    { intervalMs: 60_000, windowMs: 60_000 },
  ];
  const server = fork(join(repoRoot(), 'dist', 'bench', 'fleet-server.js'), [], { env: { ...process.env, BENCH_FLEET_TOKEN: context.token }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const messages: unknown[] = [];
  const waiters: Array<() => void> = [];
  server.on('message', (message) => {
    messages.push(message);
    waiters.splice(0).forEach((wake) => wake());
  });
  const next = async <T>(): Promise<T> => {
    for (let round = 0; round < 600 && messages.length === 0; round++) await new Promise<void>((resolve) => {
      waiters.push(resolve);
      setTimeout(resolve, 1_000);
    });
    if (messages.length === 0) throw new Error('fleet: the server process did not answer');
    return messages.shift() as T;
  };
  const stats = async () => {
    server.send('stats');
    return next<ServerStats>();
  };
  const figures: Figure[] = [];
  try {
    const { url } = await next<{ url: string }>();
    for (const { intervalMs, windowMs } of settings) {
      // A random phase within one interval, then the first check after 0.8–1.2 intervals (its 401
      // challenge included): past 2.2 intervals every agent is in its steady state.
      const warmupMs = Math.round(intervalMs * 2.2) + 3_000;
      const perProcess = Math.ceil(agents / processes);
      const runs = Array.from({ length: processes }, () => timed(process.execPath, [join(repoRoot(), 'dist', 'bench', 'fleet-pollers.js')], {
        env: { ...process.env, BENCH_FLEET: JSON.stringify({ url, token: context.token, count: perProcess, intervalMs, durationMs: warmupMs + windowMs }) },
        timeoutMs: warmupMs + windowMs + 120_000,
      }));
      await new Promise((resolve) => setTimeout(resolve, warmupMs));
      const start = await stats();
      const startedAt = Date.now();
      await new Promise((resolve) => setTimeout(resolve, windowMs));
      const end = await stats();
      const seconds = (Date.now() - startedAt) / 1000;
      const reports = (await Promise.all(runs)).map((run) => JSON.parse(run.stdout) as PollerReport);
      const latencies = reports.flatMap((report) => report.latencies);
      const failures = reports.reduce((sum, report) => sum + report.failures, 0);
      const checks = reports.reduce((sum, report) => sum + report.checks, 0);
      const served = (end.requests - start.requests) / seconds;
      const offered = (perProcess * processes) / (intervalMs / 1000);
      const cores = (end.cpuMs - start.cpuMs) / 1000 / seconds;
      const interval = `${intervalMs / 1000}s`;
      context.log(`fleet: ${perProcess * processes} agents every ${interval}: ${round(served, 1)} requests/s served (${round(offered, 1)} offered), server CPU ${round(cores, 2)} cores, check p50 ${percentile(latencies, 50)} ms p95 ${percentile(latencies, 95)} ms, ${failures} of ${checks} checks failed`);
      figures.push({
        figure: 7, name: `fleet: ${perProcess * processes} agents, check every ${interval} (check latency p95)`, N: perProcess * processes,
        capstan_ms: percentile(latencies, 95), reference_ms: null, ratio: null, target: null, met: null,
        reference: 'none: one git-http-backend (CGI) server on loopback, 2 shared cores',
        samples: { capstan: [percentile(latencies, 50), percentile(latencies, 95)], reference: [] },
        notes: `server ${round(served, 1)} requests/s (offered ${round(offered, 1)}), ${round(cores, 2)} CPU cores (git-http-backend included) over ${round(seconds)} s; ${round((end.cpuMs - start.cpuMs) / Math.max(1, end.requests - start.requests), 2)} ms CPU per request; check p50 ${percentile(latencies, 50)} ms, p95 ${percentile(latencies, 95)} ms; ${failures} of ${checks} checks failed (${end.errors - start.errors} non-200 answers in the window)`,
      });
    }
  } finally {
    server.send('close');
    await new Promise((resolve) => {
      const timer = setTimeout(() => {
        server.kill('SIGKILL');
        resolve(undefined);
      }, 10_000);
      server.once('exit', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
  }
  return figures;
}
