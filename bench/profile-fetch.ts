// Profiles figure 5's first start: builds the same 5,000-commit, 2,000-file repository, then runs
// the fetch probe (a fresh process, an empty state dir) under --cpu-prof, RUNS times.
//   node dist/bench/profile-fetch.js [RUNS] [PROFILE_DIR]      (defaults: 3, ./profiles)
//   node dist/bench/profile-top.js PROFILE_DIR/<file>.cpuprofile 25
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gitEnvironment, startGitServer } from '../test/helpers/git-server.js';
import { fastImport, historyStream } from './lib/big-repo.js';
import { repoRoot } from './lib/paths.js';
import { timed } from './lib/timed-process.js';

const runs = Number(process.argv[2] ?? 3);
const profileDir = resolve(process.argv[3] ?? 'profiles');
const token = 'profile-fetch-token';
const scratch = await mkdtemp(join(tmpdir(), 'capstan-profile-fetch-'));
const git = await startGitServer({ token });
try {
  const repo = await git.createRepo('big');
  await fastImport(repo.bareDir, historyStream({ files: 2_000, commits: 5_000 }), scratch);
  await timed('git', ['repack', '-a', '-d', '-q'], { cwd: repo.bareDir, env: { ...gitEnvironment(scratch), GIT_DIR: repo.bareDir } });
  for (let run = 0; run < runs; run++) {
    const stateDir = await mkdtemp(join(scratch, 'state-'));
    const { stdout } = await timed(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, join(repoRoot(), 'dist', 'bench', 'fetch-probe.js')], {
      env: { ...process.env, BENCH_PROBE: JSON.stringify({ repo: repo.url, token, stateDir }) },
      timeoutMs: 300_000,
    });
    process.stdout.write(stdout);
  }
  process.stdout.write(`profiles in ${profileDir}\n`);
} finally {
  await git.close();
  await rm(scratch, { recursive: true, force: true });
}
