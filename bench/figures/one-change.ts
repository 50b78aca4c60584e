import { capstanOnce, type CapstanSetup } from '../lib/capstan.js';
import { benchLabel, capstanLabel, type BenchContext } from '../lib/context.js';
import { docker, removeByLabel } from '../lib/docker-cleanup.js';
import { capstanManifest, IMAGE } from '../lib/manifests.js';
import type { Figure } from '../lib/results.js';
import { median, ratio, round } from '../lib/stats.js';
import { timed } from '../lib/timed-process.js';

const count = 200;

/**
 * Figure 3: with 200 services running, a commit changes one of them. Capstan's cycle (durationMs
 * of `once`, so fetch, load, observe, plan, replace, observe again) against replacing one
 * container by hand with the docker CLI (stop, rm, run), beside the same 200 containers.
 */
export async function oneChange(context: BenchContext): Promise<Figure[]> {
  const repo = await context.git.createRepo('one-change');
  const revisions = new Map<number, string>();
  await repo.write({ 'app.yaml': capstanManifest(context.app, count, revisions) });
  await repo.commit(`${count} services`);
  await repo.push();
  const stateDir = await context.temp.make('state-change');
  const setup: CapstanSetup = { repoUrl: repo.url, token: context.token, node: context.node, stateDir, cwd: stateDir };
  const byHandName = `${context.app}-byhand`;
  const byHandRun = ['run', '-d', '--name', byHandName, '--network', byHandName, '--label', benchLabel(context), IMAGE, 'sh', '-c', "trap 'exit 0' TERM; sleep 86400 & wait"];

  try {
    const initial = await capstanOnce(setup);
    context.log(`one change: converged ${count} services in ${round(initial.wallMs)} ms`);
    await timed('docker', ['network', 'create', '--label', benchLabel(context), byHandName]);
    await timed('docker', byHandRun);

    const cycleSamples: number[] = [];
    const onceSamples: number[] = [];
    const byHandSamples: number[] = [];
    const touchedCounts: number[] = [];
    for (let rep = 0; rep < context.reps; rep++) {
      // Spread over the app, so the changed service is not always the first one listed.
      revisions.set((rep * 37 + 11) % count, `r${rep}`);
      await repo.write({ 'app.yaml': capstanManifest(context.app, count, revisions) });
      await repo.commit(`change one service (rep ${rep})`);
      await repo.push();
      const before = await containerIds(capstanLabel(context));
      const once = await capstanOnce(setup);
      if (once.cycle.result !== 'applied') throw new Error(`one change: capstan once was ${once.cycle.result}`);
      const after = await containerIds(capstanLabel(context));
      touchedCounts.push([...after].filter(([name, id]) => before.get(name) !== id).length + [...before.keys()].filter((name) => !after.has(name)).length);
      cycleSamples.push(once.cycle.durationMs);
      onceSamples.push(once.wallMs);

      const stop = await timed('docker', ['stop', '--time', '10', byHandName]);
      const remove = await timed('docker', ['rm', byHandName]);
      const run = await timed('docker', byHandRun);
      byHandSamples.push(stop.wallMs + remove.wallMs + run.wallMs);
      context.log(`one change rep ${rep + 1}/${context.reps}: capstan cycle ${once.cycle.durationMs} ms (once ${round(once.wallMs)} ms, ${touchedCounts.at(-1)} container(s) replaced), by hand ${round(byHandSamples.at(-1)!)} ms`);
    }

    const cycleMs = median(cycleSamples);
    const byHandMs = median(byHandSamples);
    const figureRatio = ratio(cycleMs, byHandMs);
    const onlyOneTouched = touchedCounts.every((touched) => touched === 1);
    const reference = 'by hand: docker stop, docker rm, docker run -d (CLI, same network and image)';
    return [
      {
        figure: 3, name: 'one change among many (cycle)', N: count,
        capstan_ms: round(cycleMs), reference_ms: round(byHandMs), ratio: figureRatio,
        target: '≤ 1.3 × by hand, only that service touched',
        met: figureRatio !== null && figureRatio <= 1.3 && onlyOneTouched,
        reference,
        samples: { capstan: cycleSamples, reference: byHandSamples.map((sample) => round(sample)) },
        notes: `containers replaced per cycle: ${touchedCounts.join(', ')}`,
      },
      {
        figure: 3, name: 'one change among many (capstan once, incl. process start)', N: count,
        capstan_ms: round(median(onceSamples)), reference_ms: round(byHandMs), ratio: ratio(median(onceSamples), byHandMs),
        target: null, met: null,
        reference,
        samples: { capstan: onceSamples.map((sample) => round(sample)), reference: byHandSamples.map((sample) => round(sample)) },
      },
    ];
  } finally {
    await removeByLabel(capstanLabel(context)).catch((error: unknown) => context.log(`cleanup: ${String(error)}`));
    await removeByLabel(benchLabel(context)).catch((error: unknown) => context.log(`cleanup: ${String(error)}`));
  }
}

/** Container name → id, so a replaced container shows as a changed id. */
async function containerIds(label: string): Promise<Map<string, string>> {
  const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
  return new Map(containers.map((container) => [(container.Names[0] ?? '').replace(/^\//, ''), container.Id]));
}
