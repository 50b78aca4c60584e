import * as fs from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import http from 'isomorphic-git/http/node';
import { systemClock } from '../../agent/clock.js';
import { createHeadCheck } from '../../agent/source/poll.js';
import { gitEnvironment } from '../../test/helpers/git-server.js';
import { RunningAgent, type CapstanSetup } from '../lib/capstan.js';
import { composeDown, composeRun, type ComposeProject } from '../lib/compose.js';
import { capstanLabel, composeLabel, type BenchContext } from '../lib/context.js';
import { countRunning, removeByLabel } from '../lib/docker-cleanup.js';
import { IMAGE } from '../lib/manifests.js';
import type { Figure } from '../lib/results.js';
import { median, ratio, round } from '../lib/stats.js';
import { timed } from '../lib/timed-process.js';

const apps = 20;
const COMMAND = '["sh", "-c", "trap \'exit 0\' TERM; sleep 86400 & wait"]';
/** The readiness window of the changed replica (the default `update.monitor`). */
const windowMs = 5_000;

function appName(context: BenchContext, index: number): string {
  return `${context.app}-a${String(index).padStart(2, '0')}`;
}

/** 20 apps of one service each, under apps/; the same 20 as one Compose project under compose/. */
function files(context: BenchContext, revisions: readonly string[]): Record<string, string> {
  const result: Record<string, string> = {};
  const compose = ['version: "2.4"', 'services:'];
  for (let index = 0; index < apps; index++) {
    result[`apps/${appName(context, index)}.yaml`] = [
      `app: ${appName(context, index)}`, 'services:', '  web:', `    image: ${IMAGE}`, `    command: ${COMMAND}`,
      '    environment:', `      BENCH_REVISION: "${revisions[index]}"`, '',
    ].join('\n');
    compose.push(`  a${String(index).padStart(2, '0')}:`, `    image: ${IMAGE}`, `    command: ${COMMAND}`,
      '    environment:', `      BENCH_REVISION: "${revisions[index]}"`);
  }
  result['compose/docker-compose.yml'] = `${compose.join('\n')}\n`;
  return result;
}

function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Figure 6: commit to running. A repository of 20 apps, one service each; each repetition pushes
 * a commit changing one of them and measures, from the moment the push returned, until
 * `capstan run` (schedule once a year, so only its reference check can start the cycle) logs the
 * cycle applied: the changed replica created, started, ready after its 5 s window, the old one
 * removed. The push lands at a random phase of the check. The reference is the same change by
 * hand, the person's reaction time left out: `git pull` in a clone, then `docker-compose up -d`
 * of the same 20 services as one project. Measured at the default interval (5 s) and at 2 s.
 */
export async function commitToRunning(context: BenchContext): Promise<Figure[]> {
  // Capstan watches one repository and the person another with the same files, so neither
  // side's work runs during the other's measurement.
  const repo = await context.git.createRepo('commit-to-running');
  const byHandRepo = await context.git.createRepo('commit-to-running-by-hand');
  const revisions = Array.from({ length: apps }, () => 'r0');
  for (const target of [repo, byHandRepo]) {
    await target.write(files(context, revisions));
    await target.commit(`${apps} apps`);
    await target.push();
  }

  // Cost of one reference check, measured in this process against the same server.
  const check = createHeadCheck({ repo: repo.url, branch: 'main', token: context.token }, { fs, http, clock: systemClock });
  await check();
  const probe = await check();

  const home = await context.temp.make('git-home');
  const gitEnv = gitEnvironment(home);
  const auth = ['-c', `http.extraHeader=Authorization: Basic ${Buffer.from(`bench:${context.token}`).toString('base64')}`];
  const clone = join(await context.temp.make('by-hand'), 'work');
  await timed('git', [...auth, 'clone', '--quiet', '--single-branch', '--branch', 'main', byHandRepo.url, clone], { env: gitEnv });
  const project: ComposeProject = { tool: context.compose, name: context.composeProject, dir: join(clone, 'compose') };

  const reps = Math.max(10, context.reps * 2);
  let change = 0;
  const push = async (target = repo) => {
    const index = (change * 7 + 3) % apps;
    revisions[index] = `r${++change}`;
    await target.write(files(context, revisions));
    await target.commit(`change ${appName(context, index)}`);
    await target.push();
  };

  const figures: Figure[] = [];
  try {
    await composeRun(project, ['up', '-d']);
    const byHand: number[] = [];
    const variants: Array<{ interval: string; intervalMs: number; samples: number[]; detection: number[]; cycles: number[] }> = [
      { interval: '5s', intervalMs: 5_000, samples: [], detection: [], cycles: [] },
      { interval: '2s', intervalMs: 2_000, samples: [], detection: [], cycles: [] },
    ];
    for (const variant of variants) {
      const stateDir = await context.temp.make('state-commit');
      const setup: CapstanSetup = {
        repoUrl: repo.url, token: context.token, node: context.node, stateDir, cwd: stateDir,
        schedule: '0 0 1 1 *', env: { CAPSTAN_PATH: 'apps', CAPSTAN_POLL_INTERVAL: variant.interval },
      };
      const agent = new RunningAgent(setup);
      try {
        await agent.waitForCycles(1, 300_000);
        if ((await countRunning(capstanLabel(context))) !== apps) throw new Error(`commit to running: ${apps} apps not running after the first cycle`);
        for (let rep = 0; rep < reps; rep++) {
          // A random phase against the agent's checks.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * variant.intervalMs));
          const seen = agent.cycles.length;
          await push();
          const pushedAt = Date.now();
          const cycle = (await agent.waitForCycles(seen + 1, 120_000))[seen];
          if (cycle.result !== 'applied') throw new Error(`commit to running: the cycle was ${cycle.result} (${cycle.reason ?? ''})`);
          variant.samples.push(cycle.atMs - pushedAt);
          // Until the cycle started (the check's share), and the cycle itself.
          variant.detection.push(cycle.atMs - cycle.durationMs - pushedAt);
          variant.cycles.push(cycle.durationMs);

          // The same change by hand: a pull, then Compose on the whole project.
          if (byHand.length < reps) {
            await push(byHandRepo);
            const startedAt = performance.now();
            await timed('git', [...auth, 'pull', '--quiet', '--ff-only'], { cwd: clone, env: gitEnv });
            await composeRun(project, ['up', '-d']);
            byHand.push(performance.now() - startedAt);
          }
          context.log(`commit to running (check every ${variant.interval}) rep ${rep + 1}/${reps}: capstan ${round(variant.samples.at(-1)!)} ms (push to cycle start ${round(variant.detection.at(-1)!)} ms, cycle ${variant.cycles.at(-1)} ms)${byHand.length > rep ? `, by hand ${round(byHand[rep])} ms` : ''}`);
        }
      } finally {
        await agent.stop();
      }
      await removeByLabel(capstanLabel(context));
    }

    const byHandP50 = median(byHand);
    for (const variant of variants) {
      const p50 = percentile(variant.samples, 50);
      const p95 = percentile(variant.samples, 95);
      const isDefault = variant.interval === '5s';
      const notes = `reference check every ${variant.interval} (±20 %), ${apps} apps of one service, one changed per commit, readiness window ${windowMs / 1000} s; push to cycle start p50 ${round(percentile(variant.detection, 50))} ms, p95 ${round(percentile(variant.detection, 95))} ms; the cycle p50 ${round(percentile(variant.cycles, 50))} ms; p95 ${round(p95)} ms (by hand p95 ${round(percentile(byHand, 95))} ms); a check costs ${probe.requests} request(s), ${probe.bytes} bytes`;
      figures.push({
        figure: 6, name: `commit to running p50 (check every ${variant.interval}${isDefault ? ', default' : ''})`, N: apps,
        capstan_ms: round(p50), reference_ms: round(byHandP50), ratio: ratio(p50, byHandP50),
        target: `≤ window + 2 s (${(windowMs + 2_000) / 1000} s)`, met: p50 <= windowMs + 2_000,
        reference: 'by hand: git pull + docker-compose up -d (20 services, no reaction time)',
        samples: { capstan: variant.samples.map((sample) => round(sample)), reference: byHand.map((sample) => round(sample)) },
        notes,
      });
      figures.push({
        figure: 6, name: `commit to running p95 (check every ${variant.interval}${isDefault ? ', default' : ''})`, N: apps,
        capstan_ms: round(p95), reference_ms: round(percentile(byHand, 95)), ratio: ratio(p95, percentile(byHand, 95)),
        target: `≤ window + 4 s (${(windowMs + 4_000) / 1000} s)`, met: p95 <= windowMs + 4_000,
        reference: 'by hand: git pull + docker-compose up -d (20 services, no reaction time)',
        samples: { capstan: variant.samples.map((sample) => round(sample)), reference: byHand.map((sample) => round(sample)) },
        notes,
      });
    }
    figures.push({
      figure: 6, name: 'bytes per reference check (response body)', N: apps,
      capstan_ms: null, reference_ms: null, ratio: null, target: null, met: null, capstan_bytes: probe.bytes,
      reference: 'none: peers poll with a full git fetch (Flux, Argo CD: 1–3 min) or need an inbound webhook',
      samples: { capstan: [probe.bytes], reference: [] },
      notes: `${probe.requests} HTTP request(s) per check, a GET of info/refs?service=git-upload-pack (protocol v1 advertisement); ${round(3_600_000 / 5_000)} checks an hour at 5 s`,
    });
  } finally {
    await composeDown(project).catch((error: unknown) => context.log(`docker-compose down: ${String(error).split('\n')[0]}`));
    await removeByLabel(composeLabel(context)).catch(() => undefined);
    await removeByLabel(capstanLabel(context)).catch(() => undefined);
  }
  return figures;
}
