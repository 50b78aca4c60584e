// Simulated agents of the fleet simulation (bench/figures/fleet.ts): `count` reference-check loops
// in one process, each the agent's own RefPoller and createHeadCheck, started at a random phase.
//   node dist/bench/fleet-pollers.js  (BENCH_FLEET: {"url","token","count","intervalMs","durationMs"})
// Prints {checks, failures, latencies: [ms…]} when the duration is over.
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import http from 'isomorphic-git/http/node';
import { systemClock } from '../agent/clock.js';
import { createLogger } from '../agent/log.js';
import { createHeadCheck, RefPoller } from '../agent/source/poll.js';

const settings = JSON.parse(process.env.BENCH_FLEET ?? '{}') as { url: string; token: string; count: number; intervalMs: number; durationMs: number };
const logger = createLogger({ level: 'silent', destination: 2, pretty: false });
const latencies: number[] = [];
const pollers: RefPoller[] = [];
for (let index = 0; index < settings.count; index++) {
  const check = createHeadCheck({ repo: settings.url, branch: 'main', token: settings.token }, { fs, http, clock: systemClock, requestTimeoutMs: 30_000 });
  const poller = new RefPoller({
    check: async () => {
      const startedAt = performance.now();
      const probe = await check();
      latencies.push(performance.now() - startedAt);
      return probe;
    },
    intervalMs: settings.intervalMs, clock: systemClock, logger, busy: () => false, onMove: () => undefined,
  });
  poller.seen('0'.repeat(40));
  pollers.push(poller);
  // Agents of a fleet start at any time: a random phase within one interval.
  setTimeout(() => poller.start(), Math.random() * settings.intervalMs);
}
await new Promise((resolve) => setTimeout(resolve, settings.durationMs));
await Promise.all(pollers.map((poller) => poller.stop()));
const totals = pollers.reduce((sum, poller) => ({ checks: sum.checks + poller.totals.checks, failures: sum.failures + poller.totals.failures }), { checks: 0, failures: 0 });
process.stdout.write(`${JSON.stringify({ ...totals, latencies: latencies.map((value) => Math.round(value)) })}\n`);
process.exit(0);
