// One source fetch and checkout as the agent does it, timed inside the process: run by figure 5
// as a child so each first start is a cold process with an empty state dir.
//   node dist/bench/fetch-probe.js   (settings in BENCH_PROBE: {"repo","token","stateDir"})
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import http from 'isomorphic-git/http/node';
import { systemClock } from '../agent/clock.js';
import { createLogger } from '../agent/log.js';
import { createGitSource } from '../agent/source/index.js';

const settings = JSON.parse(process.env.BENCH_PROBE ?? '{}') as { repo: string; token: string; stateDir: string };
const logger = createLogger({ level: 'warn', destination: 2, pretty: false });
const source = createGitSource(
  { repo: settings.repo, branch: 'main', stateDir: settings.stateDir, token: settings.token },
  { fs, http, logger, clock: systemClock },
);
const startedAt = performance.now();
const commit = await source.fetch();
const fetchedAt = performance.now();
const checkout = await source.checkout(commit);
const checkedOutAt = performance.now();
process.stdout.write(`${JSON.stringify({ commit, dir: checkout.dir, fetchMs: fetchedAt - startedAt, checkoutMs: checkedOutAt - fetchedAt })}\n`);
