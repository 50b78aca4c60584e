// Not part of npm run bench: the debug timeline of figure 3's cycle, one change among N services
// with update.monitor 0s, in `capstan once` (a fresh process) and in `capstan run`.
//   node dist/bench/profile-cycle.js [N]                  timelines (N default 200)
//   TL_PROF=DIR node dist/bench/profile-cycle.js N         also a CPU profile of `capstan run`
//   TL_PROF=DIR node dist/bench/profile-cycle.js N noop    CPU profiles of `capstan once` on the unchanged app
//   TL_NODE_ARGS="--import=hooks.mjs" ...                  more node flags for those `once` runs
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGitServer, type RemoteRepo } from '../test/helpers/git-server.js';
import { capstanOnce, RunningAgent, type CapstanSetup } from './lib/capstan.js';
import { removeByLabel } from './lib/docker-cleanup.js';
import { capstanManifest } from './lib/manifests.js';

const count = Number(process.argv[2] ?? 200);
const profileDir = process.env.TL_PROF;
const token = 'timeline-token';
const node = `capstan-timeline-${process.pid}`;
const app = `tl${process.pid}`;
const unmonitored = new Set(Array.from({ length: count }, (_, index) => index));
const revisions = new Map<number, string>();

/** Each debug line of a log as the time since the line before, its message and operation kind. */
function printTimeline(lines: string[]): void {
  let previous: number | undefined;
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    const record = JSON.parse(line) as { time: string; msg: string; kind?: string; durationMs?: number };
    const at = Date.parse(record.time);
    console.log(`${previous === undefined ? 0 : at - previous}\t${record.msg}${record.kind ? ` ${record.kind}` : ''}${record.durationMs ? ` ${record.durationMs}` : ''}`);
    previous = at;
  }
}

/** Commits the app with service `rep * 37 + 11` (mod N) changed, or unchanged when `rep` is undefined. */
async function pushApp(repo: RemoteRepo, rep?: number): Promise<void> {
  if (rep !== undefined) revisions.set((rep * 37 + 11) % count, `r${rep}`);
  await repo.write({ 'app.yaml': capstanManifest(app, count, revisions, unmonitored) });
  await repo.commit(rep === undefined ? 'initial' : `change ${rep}`);
  await repo.push();
}

async function noopProfiles(setup: CapstanSetup): Promise<void> {
  const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${profileDir ?? 'profiles'}`, ...(process.env.TL_NODE_ARGS?.split(' ') ?? [])];
  for (let rep = 0; rep < 3; rep++) {
    const once = await capstanOnce({ ...setup, nodeArgs });
    console.log(`noop once: wall ${Math.round(once.wallMs)} ms, cycle ${once.cycle.durationMs} ms`);
  }
}

async function timelines(repo: RemoteRepo, setup: CapstanSetup): Promise<void> {
  for (let rep = 0; rep < 2; rep++) {
    await pushApp(repo, rep);
    const once = await capstanOnce({ ...setup, env: { CAPSTAN_LOG_LEVEL: 'debug' } });
    console.log(`--- once rep ${rep}: wall ${Math.round(once.wallMs)} ms, cycle ${once.cycle.durationMs} ms`);
    printTimeline(once.stderr.split('\n'));
  }
  // capstan run: a warm process, its reference check every second starting each cycle.
  const agent = new RunningAgent({
    ...setup, schedule: '0 0 1 1 *', env: { CAPSTAN_LOG_LEVEL: 'debug', CAPSTAN_POLL_INTERVAL: '1s' },
    nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  }, { keepLines: true });
  try {
    await agent.waitForCycles(1, 300_000);
    for (let rep = 2; rep < 5; rep++) {
      const mark = agent.lines.length;
      await pushApp(repo, rep);
      await agent.waitForCycles(rep, 60_000);
      console.log(`--- run rep ${rep}`);
      printTimeline(agent.lines.slice(mark));
    }
  } finally {
    await agent.stop();
  }
}

const git = await startGitServer({ token });
const stateDir = await mkdtemp(join(tmpdir(), 'tl-state-'));
try {
  const repo = await git.createRepo('timeline');
  await pushApp(repo);
  const setup: CapstanSetup = { repoUrl: repo.url, token, node, stateDir, cwd: stateDir };
  const first = await capstanOnce(setup);
  console.log(`initial: ${first.cycle.durationMs} ms`);
  if (process.argv[3] === 'noop') await noopProfiles(setup);
  else await timelines(repo, setup);
} finally {
  await removeByLabel(`capstan.node=${node}`);
  await git.close();
  await rm(stateDir, { recursive: true, force: true });
}
