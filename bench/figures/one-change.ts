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

    // Alternating: the default (the new replica must run for update.monitor, 5 s, before the
    // old one stops), the same change with `monitor: 0s` (cut over as soon as it runs, as the
    // by-hand replacement does), and the replacement by hand.
    const variants = { monitored: new Samples(), unmonitored: new Samples() };
    const byHandSamples: number[] = [];
    const unmonitored = new Set<number>();
    let change = 0;
    for (let rep = 0; rep < context.reps; rep++) {
      for (const [variant, samples] of Object.entries(variants)) {
        // Spread over the app, so the changed service is not always the first one listed.
        const index = (change * 37 + 11) % count;
        revisions.set(index, `r${change++}`);
        if (variant === 'unmonitored') unmonitored.add(index);
        await repo.write({ 'app.yaml': capstanManifest(context.app, count, revisions, unmonitored) });
        await repo.commit(`change one service (${variant}, rep ${rep})`);
        await repo.push();
        const before = await containerIds(capstanLabel(context));
        const once = await capstanOnce(setup);
        if (once.cycle.result !== 'applied') throw new Error(`one change: capstan once was ${once.cycle.result}`);
        const after = await containerIds(capstanLabel(context));
        samples.touched.push([...after].filter(([name, id]) => before.get(name) !== id).length + [...before.keys()].filter((name) => !after.has(name)).length);
        samples.cycle.push(once.cycle.durationMs);
        samples.once.push(once.wallMs);
        context.log(`one change rep ${rep + 1}/${context.reps} (${variant}): capstan cycle ${once.cycle.durationMs} ms (once ${round(once.wallMs)} ms, ${samples.touched.at(-1)} container(s) replaced)`);
      }
      const stop = await timed('docker', ['stop', '--time', '10', byHandName]);
      const remove = await timed('docker', ['rm', byHandName]);
      const run = await timed('docker', byHandRun);
      byHandSamples.push(stop.wallMs + remove.wallMs + run.wallMs);
      context.log(`one change rep ${rep + 1}/${context.reps}: by hand ${round(byHandSamples.at(-1)!)} ms`);
    }

    const byHandMs = median(byHandSamples);
    const reference = 'by hand: docker stop, docker rm, docker run -d (CLI, same network and image)';
    const row = (name: string, samples: Samples, cycle: boolean, target: boolean, notes: string): Figure => {
      const values = cycle ? samples.cycle : samples.once.map((sample) => round(sample));
      const figureRatio = ratio(median(values), byHandMs);
      const onlyOneTouched = samples.touched.every((touched) => touched === 1);
      return {
        figure: 3, name, N: count,
        capstan_ms: round(median(values)), reference_ms: round(byHandMs), ratio: figureRatio,
        target: target ? '≤ 1.2 × by hand, only that service touched' : null,
        met: target ? figureRatio !== null && figureRatio <= 1.2 && onlyOneTouched : null,
        reference,
        samples: { capstan: values, reference: byHandSamples.map((sample) => round(sample)) },
        notes: `${notes}; containers replaced per cycle: ${samples.touched.join(', ')}`,
      };
    };
    return [
      row('one change among many (cycle)', variants.monitored, true, false, 'default update.monitor (5 s): the new replica runs 5 s before the old one stops'),
      row('one change among many (cycle, update.monitor 0s)', variants.unmonitored, true, true, 'cut over as soon as the new replica runs, like the replacement by hand'),
      row('one change among many (capstan once, incl. process start)', variants.monitored, false, false, 'default update.monitor (5 s)'),
    ];
  } finally {
    await removeByLabel(capstanLabel(context)).catch((error: unknown) => context.log(`cleanup: ${String(error)}`));
    await removeByLabel(benchLabel(context)).catch((error: unknown) => context.log(`cleanup: ${String(error)}`));
  }
}

class Samples {
  cycle: number[] = [];
  once: number[] = [];
  touched: number[] = [];
}

/** Container name → id, so a replaced container shows as a changed id. */
async function containerIds(label: string): Promise<Map<string, string>> {
  const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
  return new Map(containers.map((container) => [(container.Names[0] ?? '').replace(/^\//, ''), container.Id]));
}
