// The held-out measurement (issue 23): public collections of real-world Compose files, each app
// folder checked offline as `capstan validate` checks it, under a host policy that allows what a
// host owner can allow (test/heldout/policy.yaml). An app refused by host policy alone is checked
// again with the policy lines its refusal prints (POLICY_SNIPPET) added, as an owner who trusts it
// would: "accepted once the host policy allows what they ask". Counts per collection, every
// refusal with its code, whether each problem names file, line and key, whether `convert` agrees
// with `validate`, and (with --compose) what `docker-compose config` says of the same folder.
//
//   node dist/test/heldout/measure.js [--compose] [--json FILE] [--list] SOURCE...
//
// SOURCE is a bare git directory (what the `fetch` tool leaves under /work/.mirror/owner+name/repo,
// its HEAD is read) or a plain folder. Nothing is fetched: it runs offline once the sources are on
// the machine. The numbers are recorded in the README ("Compose files").
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { formatProblem, type ManifestProblem } from '../../agent/errors.js';
import { validateDir } from '../../agent/load/index.js';
import { loadComposeFolder, renderManifest } from '../../agent/load/compose/index.js';
import { pickComposeFiles } from '../../agent/load/compose/files.js';
import { portProblems } from '../../agent/load/checks.js';
import { openEnvFiles } from '../../agent/load/variables/env-files.js';
import { loadManifestFile } from '../../agent/load/load-file.js';
import { openCheckout } from '../../agent/load/files/repo-files.js';
import { parsePolicy, type HostPolicy } from '../../agent/policy/index.js';

const POLICY_FILE = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../test/heldout/policy.yaml');

interface AppResult {
  collection: string;
  app: string;
  verdict: 'accepted' | 'accepted-with-snippet' | 'refused' | 'crashed';
  problems: string[];
  codes: string[];
  /** Problems without a line or a key (a refusal must name file, line and key). */
  unplaced: string[];
  /** `convert` reports other problems than `validate`, or its output does not load again. */
  disagreement?: string;
  /** `docker-compose config`: exit status 0, or its first error line. */
  compose?: { ok: boolean; error?: string };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const withCompose = take(args, '--compose');
  const list = take(args, '--list');
  const jsonAt = args.indexOf('--json');
  const jsonFile = jsonAt >= 0 ? args.splice(jsonAt, 2)[1] : undefined;
  if (args.length === 0) {
    process.stderr.write('usage: node dist/test/heldout/measure.js [--compose] [--json FILE] [--list] SOURCE...  (a bare git dir or a folder)\n');
    process.exitCode = 2;
    return;
  }
  const basePolicyText = readFileSync(POLICY_FILE, 'utf8');
  const scratch = mkdtempSync(join(tmpdir(), 'capstan-heldout-'));
  const results: AppResult[] = [];
  try {
    for (const source of args) {
      const { root, name, commit } = materialize(source, scratch);
      const folders = appFolders(root).sort();
      process.stderr.write(`${name}${commit ? ` @ ${commit.slice(0, 12)}` : ''}: ${folders.length} app folder(s)\n`);
      for (const folder of folders) {
        const result = await measure(root, folder, name, basePolicyText);
        if (withCompose) result.compose = dockerCompose(join(root, folder));
        results.push(result);
        if (list) process.stderr.write(`  ${result.verdict.padEnd(22)} ${folder}${result.codes.length ? ` [${result.codes.join(', ')}]` : ''}\n`);
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  printSummary(results, withCompose);
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify(results, null, 2) + '\n');
}

function take(args: string[], flag: string): boolean {
  const at = args.indexOf(flag);
  if (at < 0) return false;
  args.splice(at, 1);
  return true;
}

/** A bare git dir → its HEAD extracted into the scratch folder; a folder as it is. */
function materialize(source: string, scratch: string): { root: string; name: string; commit?: string } {
  const absolute = resolve(source);
  const isGitDir = existsSync(join(absolute, 'HEAD')) && existsSync(join(absolute, 'objects'));
  const name = isGitDir ? basename(absolute === '/' ? absolute : absolute.replace(/\/repo$/, '')).replace('+', '/') : basename(absolute);
  if (!isGitDir) return { root: absolute, name };
  const root = join(scratch, name.replace(/[^A-Za-z0-9._-]/g, '_'));
  mkdirSync(root, { recursive: true });
  const commit = execFileSync('git', ['--git-dir', absolute, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  const archive = spawnSync('git', ['--git-dir', absolute, 'archive', '--format=tar', 'HEAD'], { maxBuffer: 1024 ** 3 });
  if (archive.status !== 0) throw new Error(`git archive ${absolute}: ${archive.stderr.toString()}`);
  execFileSync('tar', ['-x', '-C', root], { input: archive.stdout });
  return { root, name, commit };
}

/** Every folder holding a Compose file as Compose picks one (compose.yaml … docker-compose.yml), relative to the root. */
function appFolders(root: string): string[] {
  const found: string[] = [];
  const visit = (folder: string, depth: number) => {
    if (depth > 16) return;
    const entries = readdirSync(folder, { withFileTypes: true });
    if (pickComposeFiles(entries.filter((entry) => !entry.isDirectory()).map((entry) => entry.name)).main) {
      found.push(relative(root, folder) || '.');
      return;
    }
    for (const entry of entries) if (entry.isDirectory() && !entry.name.startsWith('.')) visit(join(folder, entry.name), depth + 1);
  };
  visit(root, 0);
  return found;
}

async function validateWith(root: string, folder: string, policy: HostPolicy): Promise<ManifestProblem[]> {
  const validation = await validateDir({ root, path: folder, policy, uncheckedEnvFiles: true, uncheckedSopsFiles: true });
  return validation.problems;
}

async function measure(root: string, folder: string, collection: string, basePolicyText: string): Promise<AppResult> {
  const result: AppResult = { collection, app: folder, verdict: 'refused', problems: [], codes: [], unplaced: [] };
  try {
    let policy = parsePolicy(basePolicyText, POLICY_FILE);
    let problems = await validateWith(root, folder, policy);
    if (problems.length > 0 && problems.every((problem) => problem.code === 'POLICY_REFUSED' || problem.code === 'POLICY_SNIPPET')) {
      // What the refusal tells the owner to copy, added to the policy file as they would paste it.
      const snippet = problems.find((problem) => problem.code === 'POLICY_SNIPPET');
      const lines = snippet?.message.split('\n').slice(1).map((line) => line.replace(/^ {4}/, '')).join('\n') ?? '';
      const merged = { ...(parse(basePolicyText) as object), ...(parse(lines) as object) };
      policy = parsePolicy(stringify(merged), `${POLICY_FILE} + snippet`);
      problems = await validateWith(root, folder, policy);
      if (problems.length === 0) result.verdict = 'accepted-with-snippet';
    } else if (problems.length === 0) result.verdict = 'accepted';
    result.problems = problems.map(formatProblem);
    result.codes = [...new Set(problems.map((problem) => problem.code))].sort();
    result.unplaced = problems.filter((problem) => problem.code !== 'POLICY_SNIPPET' && (!(problem.line > 0) || problem.key === '')).map(formatProblem);
    result.disagreement = await convertAgrees(root, folder, policy, problems);
  } catch (error) {
    result.verdict = 'crashed';
    result.problems = [String((error as Error).stack ?? error)];
    result.codes = ['CRASH'];
  }
  return result;
}

/** What `capstan convert` reports must be what `validate` reports, and what it prints must load again as a native manifest. */
async function convertAgrees(root: string, folder: string, policy: HostPolicy, validated: ManifestProblem[]): Promise<string | undefined> {
  const checkout = await openCheckout(root);
  const envFiles = openEnvFiles(checkout, { unchecked: true, sopsUnchecked: true });
  const absolute = resolve(root, folder);
  const context = { envFiles, defaults: await envFiles.readDefault(absolute), fallback: () => undefined };
  const { result, conversion } = await loadComposeFolder(absolute, checkout, context, policy);
  const converted = [...result.problems, ...envFiles.problems, ...portProblems(result.bindings)].map(formatProblem);
  const missing = validated.filter((problem) => problem.code !== 'POLICY_SNIPPET').map(formatProblem).filter((line) => !converted.includes(line));
  const extra = converted.filter((line) => !validated.map(formatProblem).includes(line));
  if (missing.length > 0 || extra.length > 0) return `validate only: ${missing.join('; ') || '-'}; convert only: ${extra.join('; ') || '-'}`;
  if (converted.length > 0 || !conversion.document) return undefined;
  // convert's output, written where the Compose file is, loaded as the native manifest it is.
  const out = join(absolute, '.capstan-heldout-converted.yaml');
  writeFileSync(out, renderManifest(conversion.document.data, { schema: 'x.json', from: basename(conversion.file) }));
  try {
    const native = await loadManifestFile(out, await openCheckout(root), { envFiles: openEnvFiles(checkout, { unchecked: true, sopsUnchecked: true }), fallback: () => undefined }, policy);
    const problems = native.problems.filter((problem) => problem.code !== 'PLAINTEXT_ENV_FILE');
    return problems.length > 0 ? `convert's output does not load: ${problems.map(formatProblem).join('; ')}` : undefined;
  } finally {
    rmSync(out, { force: true });
  }
}

/** `docker-compose config -q` in the folder, as its owner would run it; undefined when not installed. */
function dockerCompose(folder: string): { ok: boolean; error?: string } | undefined {
  const run = spawnSync('docker-compose', ['config', '-q'], { cwd: folder, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' } });
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  if (run.status === 0) return { ok: true };
  const error = (run.stderr ?? '').split('\n').filter((line) => line.trim() !== '' && !/^WARNING/.test(line)).slice(0, 2).join(' ').slice(0, 300);
  return { ok: false, error };
}

function printSummary(results: AppResult[], withCompose: boolean): void {
  const collections = [...new Set(results.map((result) => result.collection))];
  const lines: string[] = [];
  const row = (name: string, of: AppResult[]) => {
    const accepted = of.filter((result) => result.verdict === 'accepted').length;
    const withSnippet = of.filter((result) => result.verdict === 'accepted-with-snippet').length;
    const crashed = of.filter((result) => result.verdict === 'crashed').length;
    const percent = of.length ? (((accepted + withSnippet) * 100) / of.length).toFixed(1) : '-';
    const compose = withCompose ? `, docker-compose config accepts ${of.filter((result) => result.compose?.ok).length}` : '';
    lines.push(`${name}: ${accepted + withSnippet}/${of.length} accepted (${percent}%: ${accepted} under the permissive policy, ${withSnippet} more with the policy lines the refusal prints), ${crashed} crashed${compose}`);
  };
  for (const collection of collections) row(collection, results.filter((result) => result.collection === collection));
  row('all', results);
  const unplaced = results.flatMap((result) => result.unplaced);
  lines.push(`problems not naming a line and a key: ${unplaced.length}`);
  const disagreements = results.filter((result) => result.disagreement);
  lines.push(`validate and convert disagree, or convert output does not load: ${disagreements.length}`);
  const byCode = new Map<string, number>();
  for (const result of results) if (result.verdict === 'refused' || result.verdict === 'crashed') for (const code of result.codes) byCode.set(code, (byCode.get(code) ?? 0) + 1);
  lines.push(`refusals by code (apps): ${[...byCode].sort((left, right) => right[1] - left[1]).map(([code, count]) => `${code} ${count}`).join(', ') || 'none'}`);
  for (const result of results) {
    if (result.verdict !== 'refused' && result.verdict !== 'crashed' && !result.disagreement) continue;
    lines.push(`\n${result.collection} ${result.app}: ${result.verdict}${result.compose ? ` (docker-compose config: ${result.compose.ok ? 'accepts' : `refuses: ${result.compose.error}`})` : ''}`);
    for (const problem of result.problems.filter((line) => !/\[POLICY_SNIPPET\]/.test(line)).slice(0, 6)) lines.push(`    ${problem.split('\n')[0].slice(0, 400)}`);
    if (result.disagreement) lines.push(`    disagreement: ${result.disagreement.slice(0, 600)}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

if (statSync(POLICY_FILE, { throwIfNoEntry: false }) === undefined) throw new Error(`missing ${POLICY_FILE}`);
await main();
