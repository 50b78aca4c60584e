import { capstanOnce } from '../lib/capstan.js';
import { composeDown, composeUp, writeComposeFile, type ComposeProject } from '../lib/compose.js';
import { capstanLabel, composeLabel, type BenchContext } from '../lib/context.js';
import { countRunning, removeByLabel } from '../lib/docker-cleanup.js';
import { capstanManifest } from '../lib/manifests.js';
import type { Figure } from '../lib/results.js';
import { median, ratio, round } from '../lib/stats.js';

export interface ConvergeSize {
  count: number;
  reps: number;
}

/**
 * Figure 1: N services from an empty host to all running. Capstan's `once` starts from an empty
 * state dir too (clone included), as on a new host; both wall times include process start-up.
 */
export async function freshConverge(context: BenchContext, sizes: ConvergeSize[]): Promise<Figure[]> {
  const repo = await context.git.createRepo('fresh-converge');
  // At the targeted N also the same app with `update: { monitor: 0s }`: done once every
  // container runs, as docker-compose is, without the 5 s window in which a new replica must
  // keep running.
  const unmonitoredRepo = await context.git.createRepo('fresh-converge-unmonitored');
  const project: ComposeProject = { tool: context.compose, name: context.composeProject, dir: await context.temp.make('compose-fresh') };
  const figures: Figure[] = [];
  for (const { count, reps } of sizes) {
    await repo.write({ 'app.yaml': capstanManifest(context.app, count) });
    await repo.commit(`${count} services`);
    await repo.push();
    await writeComposeFile(project, count);
    const targeted = count === 50;
    if (targeted) {
      await unmonitoredRepo.write({ 'app.yaml': capstanManifest(context.app, count, new Map(), new Set(Array.from({ length: count }, (_, index) => index))) });
      await unmonitoredRepo.commit(`${count} services, update.monitor 0s`);
      await unmonitoredRepo.push();
    }
    const unmonitoredSamples: number[] = [];
    const capstanSamples: number[] = [];
    const cycleSamples: number[] = [];
    const composeSamples: number[] = [];
    let stalls = 0;
    for (let rep = 0; rep < reps; rep++) {
      const stateDir = await context.temp.make('state-fresh');
      const once = await capstanOnce({ repoUrl: repo.url, token: context.token, node: context.node, stateDir, cwd: stateDir });
      await expectRunning(capstanLabel(context), count, 'capstan once');
      capstanSamples.push(once.wallMs);
      cycleSamples.push(once.cycle.durationMs);
      await removeByLabel(capstanLabel(context));
      if (targeted) {
        const unmonitoredState = await context.temp.make('state-fresh');
        const unmonitored = await capstanOnce({ repoUrl: unmonitoredRepo.url, token: context.token, node: context.node, stateDir: unmonitoredState, cwd: unmonitoredState });
        await expectRunning(capstanLabel(context), count, 'capstan once (monitor 0s)');
        unmonitoredSamples.push(unmonitored.wallMs);
        await removeByLabel(capstanLabel(context));
      }

      const up = await composeUp(project, { onStall: () => removeByLabel(composeLabel(context)).then(() => undefined) });
      stalls += up.stalls;
      await expectRunning(composeLabel(context), count, 'docker-compose up -d');
      composeSamples.push(up.wallMs);
      // Compose v1's down sometimes fails on the network ("has active endpoints") just after
      // removing the containers; the sweep by label retries that.
      await composeDown(project).catch((error: unknown) => context.log(`docker-compose down: ${String(error).split('\n')[0]}`));
      await removeByLabel(composeLabel(context));
      const variant = targeted ? `, capstan with monitor 0s ${round(unmonitoredSamples.at(-1)!)} ms` : '';
      context.log(`fresh converge N=${count} rep ${rep + 1}/${reps}: capstan ${round(once.wallMs)} ms (cycle ${once.cycle.durationMs} ms)${variant}, compose ${round(up.wallMs)} ms`);
    }
    const capstanMs = round(median(capstanSamples));
    const referenceMs = round(median(composeSamples));
    const figureRatio = ratio(capstanMs, referenceMs);
    figures.push({
      figure: 1,
      name: 'fresh converge',
      N: count,
      capstan_ms: capstanMs,
      reference_ms: referenceMs,
      ratio: figureRatio,
      target: targeted ? '≤ 0.6 × docker-compose' : null,
      met: targeted ? figureRatio !== null && figureRatio <= 0.6 : null,
      reference: 'docker-compose up -d',
      samples: { capstan: capstanSamples.map((sample) => round(sample)), reference: composeSamples.map((sample) => round(sample)) },
      notes: `capstan once wall incl. Node start-up and a fresh clone; its cycle alone (durationMs) median ${round(median(cycleSamples))} ms${stalls > 0 ? `; docker-compose stalled ${stalls} time(s) (killed after 2 min, not counted, run again)` : ''}`,
    });
    if (targeted) {
      const unmonitoredMs = round(median(unmonitoredSamples));
      figures.push({
        figure: 1,
        name: 'fresh converge (update.monitor 0s)',
        N: count,
        capstan_ms: unmonitoredMs,
        reference_ms: referenceMs,
        ratio: ratio(unmonitoredMs, referenceMs),
        target: null,
        met: null,
        reference: 'docker-compose up -d',
        samples: { capstan: unmonitoredSamples.map((sample) => round(sample)), reference: composeSamples.map((sample) => round(sample)) },
        notes: 'capstan once wall, every service with update: { monitor: 0s }: done when every container runs, as docker-compose is',
      });
    }
  }
  return figures;
}

async function expectRunning(label: string, count: number, what: string): Promise<void> {
  const running = await countRunning(label);
  if (running !== count) throw new Error(`${what}: ${running} of ${count} containers running afterwards`);
}
