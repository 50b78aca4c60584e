// Not part of npm run bench: the debug timeline of figure 3's cycle, one change among N services
// with update.monitor 0s, in `capstan once` (a fresh process) and in `capstan run`.
//   node dist/bench/profile-cycle.js [N]                  timelines (N default 200)
//   TL_PROF=DIR node dist/bench/profile-cycle.js N         also a CPU profile of `capstan run`
//   TL_PROF=DIR node dist/bench/profile-cycle.js N noop    CPU profiles of `capstan once` on the unchanged app
//   TL_NODE_ARGS="--import=hooks.mjs" ...                  more node flags for those `once` runs
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGitServer } from '../test/helpers/git-server.js';
import { capstanEnv, capstanOnce } from './lib/capstan.js';
import { removeByLabel } from './lib/docker-cleanup.js';
import { capstanManifest } from './lib/manifests.js';
import { capstanEntry } from './lib/paths.js';

const count = Number(process.argv[2] ?? 200);
const token = 'timeline-token';
const git = await startGitServer({ token });
const node = `capstan-timeline-${process.pid}`;
const app = `tl${process.pid}`;
const all = new Set(Array.from({ length: count }, (_, index) => index));
try {
  const repo = await git.createRepo('timeline');
  const revisions = new Map<number, string>();
  await repo.write({ 'app.yaml': capstanManifest(app, count, revisions, all) });
  await repo.commit('initial');
  await repo.push();
  const stateDir = await mkdtemp(join(tmpdir(), 'tl-state-'));
  const setup = { repoUrl: repo.url, token, node, stateDir, cwd: stateDir };
  const first = await capstanOnce(setup);
  console.log(`initial: ${first.cycle.durationMs} ms`);
  if (process.argv[3] === 'noop') {
    for (let rep = 0; rep < 3; rep++) {
      const once = await capstanOnce({ ...setup, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${process.env.TL_PROF ?? 'profiles'}`, ...(process.env.TL_NODE_ARGS?.split(' ') ?? [])] });
      console.log(`noop once: wall ${Math.round(once.wallMs)} ms, cycle ${once.cycle.durationMs} ms`);
    }
  } else {
  const print = (text: string) => {
    let previous: number | undefined;
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      const record = JSON.parse(line) as { time: string; msg: string; kind?: string; durationMs?: number };
      const at = Date.parse(record.time);
      console.log(`${previous === undefined ? 0 : at - previous}\t${record.msg}${record.kind ? ` ${record.kind}` : ''}${record.durationMs ? ` ${record.durationMs}` : ''}`);
      previous = at;
    }
  };
  for (let rep = 0; rep < 2; rep++) {
    revisions.set(rep * 37 + 11, `r${rep}`);
    await repo.write({ 'app.yaml': capstanManifest(app, count, revisions, all) });
    await repo.commit(`change ${rep}`);
    await repo.push();
    const once = await capstanOnce({ ...setup, env: { CAPSTAN_LOG_LEVEL: 'debug' } });
    console.log(`--- once rep ${rep}: wall ${Math.round(once.wallMs)} ms, cycle ${once.cycle.durationMs} ms`);
    print(once.stderr);
  }
  // capstan run: warm process, reference check every 1 s.
  const child = spawn(process.execPath, [...(process.env.TL_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.TL_PROF}`] : []), capstanEntry(), 'run'], { env: { ...capstanEnv({ ...setup, schedule: '0 0 1 1 *' }), CAPSTAN_LOG_LEVEL: 'debug', CAPSTAN_POLL_INTERVAL: '1s' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
  const cycles = () => out.split('\n').filter((line) => line.includes('"cycle finished"')).length;
  const waitCycles = async (n: number) => { for (let i = 0; i < 600 && cycles() < n; i++) await new Promise((r) => setTimeout(r, 100)); };
  await waitCycles(1);
  for (let rep = 2; rep < 5; rep++) {
    const mark = out.length;
    revisions.set(rep * 37 + 11, `r${rep}`);
    await repo.write({ 'app.yaml': capstanManifest(app, count, revisions, all) });
    await repo.commit(`change ${rep}`);
    await repo.push();
    await waitCycles(rep);
    console.log(`--- run rep ${rep}`);
    print(out.slice(mark));
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.on('close', r));
  }
} finally {
  await removeByLabel(`capstan.node=${node}`);
  await git.close();
}
