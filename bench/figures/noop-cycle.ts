import { capstanEnv, capstanOnce, RunningAgent, type CapstanSetup } from '../lib/capstan.js';
import { composeDown, composeUp, writeComposeFile, type ComposeProject } from '../lib/compose.js';
import { capstanLabel, composeLabel, type BenchContext } from '../lib/context.js';
import { countRunning, removeByLabel } from '../lib/docker-cleanup.js';
import { countWrites } from '../lib/docker-proxy.js';
import { capstanManifest } from '../lib/manifests.js';
import { capstanEntry } from '../lib/paths.js';
import type { Figure } from '../lib/results.js';
import { median, ratio, round } from '../lib/stats.js';
import { timed } from '../lib/timed-process.js';

const count = 100;
/** Every 2 s: a no-op cycle of 100 services takes well under that, so cycles never overlap. */
const schedule = '*/2 * * * * *';
const inSyncCycles = 15;
/** Idle memory is read after this many in-sync cycles, once start-up garbage has been collected. */
const settleCycles = 3;
/** `capstan status` runs, one after the other, on the converged state of 100 services. */
const statusRuns = 20;

/**
 * Figures 2 and 4 share one setup: both projects at N = 100 on the host. Compose goes up first
 * (its peak memory sampled), then `capstan run` converges from empty (peak memory), then runs
 * in-sync cycles (their durationMs, Docker writes, idle memory), then `capstan once` and
 * `docker-compose up -d` alternate on the unchanged app, all through the counting proxy.
 */
export async function noopCycleAndFootprint(context: BenchContext): Promise<Figure[]> {
  const repo = await context.git.createRepo('noop');
  await repo.write({ 'app.yaml': capstanManifest(context.app, count) });
  await repo.commit(`${count} services`);
  await repo.push();
  const project: ComposeProject = { tool: context.compose, name: context.composeProject, dir: await context.temp.make('compose-noop'), dockerHost: context.proxy.dockerHost };
  await writeComposeFile(project, count);
  const stateDir = await context.temp.make('state-noop');
  const setup: CapstanSetup = { repoUrl: repo.url, token: context.token, node: context.node, stateDir, cwd: stateDir, dockerHost: context.proxy.dockerHost, schedule };

  try {
    const composeFresh = await composeUp(project, { sampleRss: true, onStall: () => removeByLabel(composeLabel(context)).then(() => undefined) });
    context.log(`compose up N=${count}: ${round(composeFresh.wallMs)} ms, peak ${round(composeFresh.peakRssMb ?? Number.NaN, 1)} MB`);

    const agent = new RunningAgent(setup);
    let runFigures: RunFigures;
    try {
      runFigures = await measureRunMode(context, agent);
    } finally {
      await agent.stop();
    }
    if ((await countRunning(capstanLabel(context))) !== count) throw new Error('capstan run did not leave 100 containers running');

    const onceSamples: number[] = [];
    const onceWrites: number[] = [];
    const composeSamples: number[] = [];
    const composeWrites: number[] = [];
    for (let rep = 0; rep < context.reps; rep++) {
      context.proxy.take();
      const once = await capstanOnce(setup);
      if (once.cycle.result !== 'in-sync') throw new Error(`no-op capstan once was ${once.cycle.result}`);
      onceWrites.push(countWrites(context.proxy.take()));
      onceSamples.push(once.wallMs);
      const up = await composeUp(project);
      composeWrites.push(countWrites(context.proxy.take()));
      composeSamples.push(up.wallMs);
      context.log(`no-op N=${count} rep ${rep + 1}/${context.reps}: capstan once ${round(once.wallMs)} ms (cycle ${once.cycle.durationMs} ms), compose ${round(up.wallMs)} ms`);
    }

    // `capstan status` as a whole process (Node start-up, SQLite and the Docker listing of the
    // 100 containers), on the state `capstan run` and `once` left.
    const statusSamples: number[] = [];
    for (let run = 0; run < statusRuns; run++) {
      const status = await timed(process.execPath, [capstanEntry(), 'status'], { env: capstanEnv(setup), cwd: setup.cwd, timeoutMs: 60_000 });
      statusSamples.push(round(status.wallMs));
    }
    const statusMs = median(statusSamples);
    context.log(`capstan status N=${count}: median ${round(statusMs)} ms of ${statusRuns} (${statusSamples.join(', ')})`);

    const cycleMs = median(runFigures.cycleDurations);
    const composeMs = round(median(composeSamples));
    const writes = runFigures.writes + onceWrites.reduce((sum, value) => sum + value, 0);
    const composeWriteCount = Math.max(...composeWrites);
    return [
      {
        figure: 2, name: 'no-op cycle (capstan run, in-process)', N: count,
        capstan_ms: round(cycleMs), reference_ms: composeMs, ratio: ratio(cycleMs, composeMs),
        target: '≤ 50 ms', met: cycleMs <= 50,
        reference: 'docker-compose up -d on the unchanged app',
        samples: { capstan: runFigures.cycleDurations, reference: composeSamples.map((sample) => round(sample)) },
        notes: 'durationMs of in-sync cycles of `capstan run` (no Node start-up), git ls-refs over HTTP included',
      },
      {
        figure: 2, name: 'no-op cycle (capstan once, incl. process start)', N: count,
        capstan_ms: round(median(onceSamples)), reference_ms: composeMs, ratio: ratio(median(onceSamples), composeMs),
        target: null, met: null,
        reference: 'docker-compose up -d on the unchanged app',
        samples: { capstan: onceSamples.map((sample) => round(sample)), reference: composeSamples.map((sample) => round(sample)) },
      },
      {
        figure: 2, name: 'no-op Docker writes', N: count,
        capstan_ms: null, reference_ms: null, ratio: null,
        capstan_writes: writes, reference_writes: composeWriteCount,
        target: '0 writes', met: writes === 0,
        reference: 'docker-compose up -d on the unchanged app',
        samples: { capstan: [runFigures.writes, ...onceWrites], reference: composeWrites },
        notes: `API calls other than GET/HEAD through the counting proxy, over ${inSyncCycles} run-mode cycles and ${context.reps} once runs; compose: the most in one run`,
      },
      {
        figure: 2, name: 'capstan status (whole process)', N: count,
        capstan_ms: round(statusMs), reference_ms: null, ratio: null,
        target: '< 300 ms', met: statusMs < 300,
        reference: 'none',
        samples: { capstan: statusSamples, reference: [] },
        notes: `median of ${statusRuns} runs one after the other: Node start-up, SQLite, the Docker listing of ${count} services`,
      },
      {
        figure: 4, name: 'footprint idle (capstan run, RSS)', N: count,
        capstan_ms: null, reference_ms: null, ratio: null,
        capstan_mb: round(runFigures.idleMb, 1), reference_mb: null,
        target: '≤ 64 MB', met: runFigures.idleMb <= 64,
        reference: 'none: docker-compose has no resident process',
        samples: { capstan: runFigures.idleSamples, reference: [] },
        notes: `median VmRSS between in-sync cycles ${settleCycles + 1} and ${inSyncCycles}, after converging ${count} services`,
      },
      {
        figure: 4, name: 'footprint peak during converge (RSS)', N: count,
        capstan_ms: null, reference_ms: null, ratio: ratio(runFigures.peakMb, composeFresh.peakRssMb ?? null),
        capstan_mb: round(runFigures.peakMb, 1), reference_mb: round(composeFresh.peakRssMb ?? Number.NaN, 1),
        target: null, met: null,
        reference: 'docker-compose up -d (its Python process), same N from empty',
        samples: { capstan: [round(runFigures.peakMb, 1)], reference: [round(composeFresh.peakRssMb ?? Number.NaN, 1)] },
        notes: `capstan run converge of ${count} services took ${runFigures.convergeMs} ms (cycle durationMs); docker-compose up -d took ${round(composeFresh.wallMs)} ms${composeFresh.stalls > 0 ? ` after ${composeFresh.stalls} stalled run(s)` : ''}`,
      },
    ];
  } finally {
    // A failed cleanup is logged, never allowed to throw away the figures measured above;
    // main's final sweep removes whatever is left by label.
    await removeByLabel(capstanLabel(context)).catch((error: unknown) => context.log(`cleanup: ${String(error)}`));
    await composeDown({ ...project, dockerHost: undefined }).catch((error: unknown) => context.log(`docker-compose down: ${String(error)}`));
    await removeByLabel(composeLabel(context)).catch((error: unknown) => context.log(`cleanup: ${String(error)}`));
  }
}

interface RunFigures {
  convergeMs: number;
  peakMb: number;
  cycleDurations: number[];
  writes: number;
  idleMb: number;
  idleSamples: number[];
}

async function measureRunMode(context: BenchContext, agent: RunningAgent): Promise<RunFigures> {
  const [converge] = await agent.waitForCycles(1, 600_000);
  if (converge.result !== 'applied') throw new Error(`capstan run's first cycle was ${converge.result} (${converge.reason ?? ''})`);
  const peakMb = agent.rss.peakMb(0, converge.atMs) ?? Number.NaN;
  context.log(`capstan run converged N=${count} in ${converge.durationMs} ms, peak ${round(peakMb, 1)} MB`);
  context.proxy.take();
  const cycles = (await agent.waitForCycles(1 + inSyncCycles, 60_000)).slice(1);
  const writes = countWrites(context.proxy.take());
  const failed = cycles.find((cycle) => cycle.result !== 'in-sync');
  if (failed) throw new Error(`capstan run: a cycle on the unchanged app was ${failed.result} (${failed.reason ?? ''})`);
  const idleSamples = agent.rss.inWindow(cycles[settleCycles - 1].atMs, cycles[inSyncCycles - 1].atMs).map((mb) => round(mb, 1));
  const cycleDurations = cycles.map((cycle) => cycle.durationMs);
  context.log(`capstan run in-sync cycles: ${cycleDurations.join(', ')} ms; ${writes} writes; idle ${round(median(idleSamples), 1)} MB`);
  return { convergeMs: converge.durationMs, peakMb, cycleDurations, writes, idleMb: median(idleSamples), idleSamples };
}
