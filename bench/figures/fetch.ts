import { join } from 'node:path';
import { gitEnvironment } from '../../test/helpers/git-server.js';
import { fastImport, historyStream, nextCommitStream, type HistoryShape } from '../lib/big-repo.js';
import type { BenchContext } from '../lib/context.js';
import { repoRoot } from '../lib/paths.js';
import type { Figure } from '../lib/results.js';
import { median, ratio, round } from '../lib/stats.js';
import { timed } from '../lib/timed-process.js';

const shape: HistoryShape = { files: 2_000, commits: 5_000 };

interface ProbeResult {
  commit: string;
  fetchMs: number;
  checkoutMs: number;
}

/**
 * Figure 5: Capstan's source stage (isomorphic-git, shallow, then the tree written to a checkout
 * folder) against the git CLI on the same server, for a 5,000-commit, 2,000-file repository.
 */
export async function fetchFigures(context: BenchContext): Promise<Figure[]> {
  const repo = await context.git.createRepo('big');
  const home = await context.temp.make('git-home');
  const builtAt = Date.now();
  await fastImport(repo.bareDir, historyStream(shape), home);
  await timed('git', ['repack', '-a', '-d', '-q'], { cwd: repo.bareDir, env: { ...gitEnvironment(home), GIT_DIR: repo.bareDir } });
  context.log(`fetch: built ${shape.commits} commits × ${shape.files} files in ${Date.now() - builtAt} ms`);
  const gitEnv = gitEnvironment(home);
  const auth = ['-c', `http.extraHeader=Authorization: Basic ${Buffer.from(`bench:${context.token}`).toString('base64')}`];
  const probe = async (stateDir: string): Promise<ProbeResult> => {
    const { stdout } = await timed(process.execPath, [join(repoRoot(), 'dist', 'bench', 'fetch-probe.js')], {
      env: { ...process.env, BENCH_PROBE: JSON.stringify({ repo: repo.url, token: context.token, stateDir }) },
      timeoutMs: 300_000,
    });
    return JSON.parse(stdout) as ProbeResult;
  };

  const first = { capstan: [] as number[], git: [] as number[] };
  let primedState = '';
  let primedClone = '';
  for (let rep = 0; rep < context.reps; rep++) {
    primedState = await context.temp.make('state-fetch');
    const result = await probe(primedState);
    first.capstan.push(result.fetchMs + result.checkoutMs);
    primedClone = join(await context.temp.make('clone'), 'work');
    const clone = await timed('git', [...auth, 'clone', '--quiet', '--depth', '1', '--single-branch', '--branch', 'main', repo.url, primedClone], { env: gitEnv });
    first.git.push(clone.wallMs);
    context.log(`fetch first start rep ${rep + 1}/${context.reps}: capstan ${round(result.fetchMs)} + ${round(result.checkoutMs)} ms checkout, git clone ${round(clone.wallMs)} ms`);
  }

  const next = { capstanFetch: [] as number[], capstanTotal: [] as number[], gitFetch: [] as number[], gitTotal: [] as number[] };
  for (let rep = 0; rep < context.reps; rep++) {
    await fastImport(repo.bareDir, nextCommitStream(shape, shape.commits + rep), home);
    const result = await probe(primedState);
    next.capstanFetch.push(result.fetchMs);
    next.capstanTotal.push(result.fetchMs + result.checkoutMs);
    const fetch = await timed('git', [...auth, 'fetch', '--quiet', '--depth', '1', 'origin', 'main'], { cwd: primedClone, env: gitEnv });
    const reset = await timed('git', ['reset', '--quiet', '--hard', 'FETCH_HEAD'], { cwd: primedClone, env: gitEnv });
    next.gitFetch.push(fetch.wallMs);
    next.gitTotal.push(fetch.wallMs + reset.wallMs);
    const head = (await timed('git', ['rev-parse', 'HEAD'], { cwd: primedClone, env: gitEnv })).stdout.trim();
    if (head !== result.commit) throw new Error(`fetch: capstan got ${result.commit}, git got ${head}`);
    context.log(`fetch new commit rep ${rep + 1}/${context.reps}: capstan ${round(result.fetchMs)} + ${round(result.checkoutMs)} ms, git ${round(fetch.wallMs)} + ${round(reset.wallMs)} ms`);
  }

  const row = (name: string, capstan: number[], reference: number[], referenceName: string, notes: string, maxRatio?: number): Figure => ({
    figure: 5, name, N: shape.files,
    capstan_ms: round(median(capstan)), reference_ms: round(median(reference)), ratio: ratio(median(capstan), median(reference)),
    // Issue 24: a first clone within 3 × `git clone --depth 1`.
    target: maxRatio === undefined ? null : `≤ ${maxRatio} × ${referenceName}`,
    met: maxRatio === undefined ? null : median(capstan) <= maxRatio * median(reference),
    reference: referenceName,
    samples: { capstan: capstan.map((sample) => round(sample)), reference: reference.map((sample) => round(sample)) },
    notes: `${shape.commits} commits, ${shape.files} files (N = files); ${notes}`,
  });
  return [
    row('fetch on first start (fetch + checkout)', first.capstan, first.git, 'git clone --depth 1 --single-branch', 'empty state dir; capstan timed inside the process (no Node start-up)', 3),
    row('fetch a new commit (fetch only)', next.capstanFetch, next.gitFetch, 'git fetch --depth 1 origin main', 'one commit changing one file'),
    row('fetch a new commit (fetch + checkout)', next.capstanTotal, next.gitTotal, 'git fetch --depth 1 + git reset --hard FETCH_HEAD', 'capstan writes a whole new checkout folder per commit'),
  ];
}
