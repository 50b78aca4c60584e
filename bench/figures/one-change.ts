import { capstanOnce, RunningAgent, type CapstanSetup } from '../lib/capstan.js';
import { benchLabel, capstanLabel, type BenchContext } from '../lib/context.js';
import { docker, removeByLabel } from '../lib/docker-cleanup.js';
import { capstanManifest, IMAGE } from '../lib/manifests.js';
import type { Figure } from '../lib/results.js';
import { median, ratio, round } from '../lib/stats.js';
import { timed } from '../lib/timed-process.js';

const count = 200;

/**
 * Figure 3: with 200 services running, a commit changes one of them. Capstan's cycle in the
 * resident agent (`capstan run`, its reference check starting the cycle; the cycle's durationMs:
 * fetch, load, observe, plan, replace, observe again) against replacing one container by hand
 * with the docker CLI (stop, rm, run), beside the same 200 containers. Then the same change with
 * `capstan once`, a fresh process, for the cost of starting one.
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
  const unmonitored = new Set<number>();
  let change = 0;
  /** Commits a change of one service, spread over the app so it is not always the first listed. */
  const pushChange = async (variant: string, monitorOff: boolean) => {
    const index = (change * 37 + 11) % count;
    revisions.set(index, `r${change++}`);
    if (monitorOff) unmonitored.add(index);
    else unmonitored.delete(index);
    await repo.write({ 'app.yaml': capstanManifest(context.app, count, revisions, unmonitored) });
    await repo.commit(`change one service (${variant})`);
    await repo.push();
  };

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
    const agent = new RunningAgent({ ...setup, schedule: '0 0 1 1 *', env: { CAPSTAN_POLL_INTERVAL: '1s' } });
    try {
      await agent.waitForCycles(1, 300_000);
      for (let rep = 0; rep < context.reps; rep++) {
        for (const [variant, samples] of Object.entries(variants)) {
          const before = await containerIds(capstanLabel(context));
          const seen = agent.cycles.length;
          await pushChange(variant, variant === 'unmonitored');
          const cycle = (await agent.waitForCycles(seen + 1, 120_000))[seen];
          if (cycle.result !== 'applied') throw new Error(`one change: the cycle was ${cycle.result} (${cycle.reason ?? ''})`);
          const after = await containerIds(capstanLabel(context));
          samples.touched.push([...after].filter(([name, id]) => before.get(name) !== id).length + [...before.keys()].filter((name) => !after.has(name)).length);
          samples.cycle.push(cycle.durationMs);
          context.log(`one change rep ${rep + 1}/${context.reps} (${variant}): capstan run cycle ${cycle.durationMs} ms (${samples.touched.at(-1)} container(s) replaced)`);
        }
        const stop = await timed('docker', ['stop', '--time', '10', byHandName]);
        const remove = await timed('docker', ['rm', byHandName]);
        const run = await timed('docker', byHandRun);
        byHandSamples.push(stop.wallMs + remove.wallMs + run.wallMs);
        context.log(`one change rep ${rep + 1}/${context.reps}: by hand ${round(byHandSamples.at(-1)!)} ms`);
      }
    } finally {
      await agent.stop();
    }
    // The same change (monitor 0s) with `capstan once`: Node start-up and a cold cycle included.
    const onceSamples = new Samples();
    for (let rep = 0; rep < context.reps; rep++) {
      await pushChange('once', true);
      const once = await capstanOnce(setup);
      if (once.cycle.result !== 'applied') throw new Error(`one change: capstan once was ${once.cycle.result}`);
      onceSamples.cycle.push(once.cycle.durationMs);
      onceSamples.once.push(once.wallMs);
      context.log(`one change rep ${rep + 1}/${context.reps} (capstan once, monitor 0s): wall ${round(once.wallMs)} ms, cycle ${once.cycle.durationMs} ms`);
    }

    const byHandMs = median(byHandSamples);
    const reference = 'by hand: docker stop, docker rm, docker run -d (CLI, same network and image)';
    const row = (name: string, values: number[], touched: number[] | undefined, target: boolean, notes: string): Figure => {
      const figureRatio = ratio(median(values), byHandMs);
      const onlyOneTouched = touched === undefined || touched.every((count) => count === 1);
      return {
        figure: 3, name, N: count,
        capstan_ms: round(median(values)), reference_ms: round(byHandMs), ratio: figureRatio,
        target: target ? '≤ 1.2 × by hand, only that service touched' : null,
        met: target ? figureRatio !== null && figureRatio <= 1.2 && onlyOneTouched : null,
        reference,
        samples: { capstan: values.map((sample) => round(sample)), reference: byHandSamples.map((sample) => round(sample)) },
        notes: `${notes}${touched ? `; containers replaced per cycle: ${touched.join(', ')}` : ''}`,
      };
    };
    return [
      row('one change among many (cycle)', variants.monitored.cycle, variants.monitored.touched, false,
        'capstan run; default update.monitor (5 s): the new replica runs 5 s before the old one stops'),
      row('one change among many (cycle, update.monitor 0s)', variants.unmonitored.cycle, variants.unmonitored.touched, true,
        'capstan run; cut over as soon as the new replica runs, like the replacement by hand'),
      row('one change among many (capstan once, update.monitor 0s, incl. process start)', onceSamples.once, undefined, false,
        `a fresh process: Node start-up, module loading and a cold cycle (its durationMs median ${round(median(onceSamples.cycle))} ms)`),
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
