// The benchmark suite (`npm run bench`, through bench/run.sh, which installs what it needs).
// Capstan and the reference tool alternate within each figure; medians go to bench/results.json
// and BENCHMARKS.md. Knobs: BENCH_FIGURES=1,2,3,5,6,7 (4 comes with 2), BENCH_REPS=5,
// BENCH_SIZES=10,50,100. A partial run replaces only its own figures in results.json.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGitServer } from '../test/helpers/git-server.js';
import { commitToRunning } from './figures/commit-to-running.js';
import { fetchFigures } from './figures/fetch.js';
import { fleetSimulation } from './figures/fleet.js';
import { freshConverge, type ConvergeSize } from './figures/fresh-converge.js';
import { noopCycleAndFootprint } from './figures/noop-cycle.js';
import { oneChange } from './figures/one-change.js';
import { detectCompose } from './lib/compose.js';
import { benchLabel, capstanLabel, composeLabel, type BenchContext } from './lib/context.js';
import { imageExists, leakedNetworks, removeByLabel } from './lib/docker-cleanup.js';
import { CountingDockerProxy } from './lib/docker-proxy.js';
import { describeMachine } from './lib/machine.js';
import { IMAGE } from './lib/manifests.js';
import { repoRoot, TempDirs } from './lib/paths.js';
import { resultsSection, updateBenchmarksMd } from './lib/report.js';
import { writeJson, type Figure } from './lib/results.js';

/** N = 100 takes about a minute per run and tool, so it gets fewer repetitions. */
const maxRepsAt100 = 3;

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function numberList(value: string | undefined, fallback: number[]): number[] {
  if (!value) return fallback;
  return value.split(',').map((item) => Number(item.trim())).filter((item) => Number.isInteger(item) && item > 0);
}

async function main(): Promise<number> {
  const wanted = new Set(numberList(process.env.BENCH_FIGURES, [1, 2, 3, 4, 5, 6, 7]));
  const reps = numberList(process.env.BENCH_REPS, [5])[0] ?? 5;
  const sizes: ConvergeSize[] = numberList(process.env.BENCH_SIZES, [10, 50, 100]).map((count) => ({ count, reps: count >= 100 ? Math.min(reps, maxRepsAt100) : reps }));
  if (!(await imageExists(IMAGE))) throw new Error(`${IMAGE} is missing: run bash examples/lib/busybox-image.sh`);

  const compose = await detectCompose();
  const machine = await describeMachine(compose);
  const runId = `${process.pid}${randomBytes(3).toString('hex')}`;
  const temp = new TempDirs();
  const token = randomBytes(16).toString('hex');
  const git = await startGitServer({ token });
  const proxy = await CountingDockerProxy.start(await temp.make('proxy'));
  const context: BenchContext = {
    runId, node: `capstan-bench-${runId}`, app: `bench-${runId}`, composeProject: `benchcompose${runId}`,
    compose, git, token, proxy, temp, reps, log,
  };
  log(`run ${runId}: figures ${[...wanted].join(',')}, ${reps} repetitions, ${machine.compose}, ${machine.foreignContainers} other containers on the engine`);

  let cleanedUp = false;
  const cleanup = async () => {
    if (cleanedUp) return;
    cleanedUp = true;
    for (const label of [capstanLabel(context), composeLabel(context), benchLabel(context)]) {
      await removeByLabel(label).catch((error: unknown) => log(`cleanup of ${label} failed: ${String(error)}`));
    }
    await proxy.close();
    await git.close();
    await temp.removeAll();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cleanup().finally(() => process.exit(130)));
  }

  const root = repoRoot();
  const resultsPath = join(root, 'bench', 'results.json');
  const figures: Figure[] = [];
  const failures: string[] = [];
  // Written after every figure, so an interrupted run keeps what it measured.
  const save = async () => {
    const key = (figure: Figure) => `${figure.figure}|${figure.name}|${figure.N}`;
    const fresh = new Set(figures.map(key));
    const previous = existsSync(resultsPath) ? (JSON.parse(await readFile(resultsPath, 'utf8')) as Figure[]) : [];
    const merged = [...previous.filter((figure) => !fresh.has(key(figure))), ...figures].sort((a, b) => a.figure - b.figure || a.N - b.N);
    await writeJson(resultsPath, merged);
    await updateBenchmarksMd(join(root, 'BENCHMARKS.md'), resultsSection(machine, merged, new Date()), () => '# Benchmarks\n');
  };
  const attempt = async (name: string, run: () => Promise<Figure[]>) => {
    const startedAt = Date.now();
    try {
      const measured = await run();
      const measuredAt = new Date().toISOString();
      figures.push(...measured.map((figure) => ({ ...figure, measured_at: measuredAt })));
      await save();
      log(`${name}: done in ${Math.round((Date.now() - startedAt) / 1000)} s`);
    } catch (error) {
      failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      log(`${name} FAILED: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
      await removeByLabel(capstanLabel(context)).catch(() => undefined);
      await removeByLabel(composeLabel(context)).catch(() => undefined);
    }
  };
  try {
    if (wanted.has(1)) await attempt('figure 1 (fresh converge)', () => freshConverge(context, sizes));
    if (wanted.has(2) || wanted.has(4)) await attempt('figures 2 and 4 (no-op cycle, footprint)', () => noopCycleAndFootprint(context));
    if (wanted.has(3)) await attempt('figure 3 (one change among many)', () => oneChange(context));
    if (wanted.has(5)) await attempt('figure 5 (fetch)', () => fetchFigures(context));
    if (wanted.has(6)) await attempt('figure 6 (commit to running)', () => commitToRunning(context));
    if (wanted.has(7)) await attempt('figure 7 (fleet simulation)', () => fleetSimulation(context));
  } finally {
    await cleanup();
  }

  for (const figure of figures) {
    log(`fig ${figure.figure} ${figure.name} N=${figure.N}: capstan ${figure.capstan_ms ?? figure.capstan_mb ?? figure.capstan_writes}, reference ${figure.reference_ms ?? figure.reference_mb ?? figure.reference_writes}, ratio ${figure.ratio}, target ${figure.target ?? '—'}, met ${figure.met ?? '—'}`);
  }
  if (leakedNetworks.size > 0) log(`the engine kept these networks ("has active endpoints" with none attached; gone after a dockerd restart): ${[...leakedNetworks].join(', ')}`);
  for (const failure of failures) log(`FAILED ${failure}`);
  return failures.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    process.exit(1);
  },
);
