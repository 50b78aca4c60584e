import { spawn } from 'node:child_process';
import { gitEnvironment } from '../../test/helpers/git-server.js';

export interface HistoryShape {
  files: number;
  commits: number;
}

const baseTime = 1_700_000_000;

function filePath(index: number): string {
  const name = String(index).padStart(4, '0');
  return `docs/${name.slice(0, 2)}/file${name}.txt`;
}

/** About 1 KB of text that differs per file and revision, so packs cannot collapse it. */
function fileContent(index: number, revision: number): string {
  const lines = [`# file ${index}, revision ${revision}`];
  for (let line = 0; line < 16; line++) lines.push(`line ${line}: ${((index + 1) * 2_654_435_761 + revision * 40_503 + line * 97).toString(36)} lorem ipsum dolor sit amet`);
  return `${lines.join('\n')}\n`;
}

function data(text: string): string {
  return `data ${Buffer.byteLength(text)}\n${text}\n`;
}

function commitHeader(commit: number, message: string): string {
  return `commit refs/heads/main\ncommitter Bench <bench@example.test> ${baseTime + commit * 60} +0000\n${data(message)}`;
}

/**
 * The history as one `git fast-import` stream: a first commit adding every file, then one commit
 * per change, each rewriting one file. 5,000 commits import in seconds, where 5,000 `git commit`
 * runs would take minutes.
 */
export function* historyStream(shape: HistoryShape): Generator<string> {
  let first = commitHeader(0, `add ${shape.files} files\n`);
  for (let index = 0; index < shape.files; index++) first += `M 100644 inline ${filePath(index)}\n${data(fileContent(index, 0))}`;
  yield first;
  for (let commit = 1; commit < shape.commits; commit++) {
    const index = (commit * 7_919) % shape.files;
    yield `${commitHeader(commit, `change file ${index}\n`)}M 100644 inline ${filePath(index)}\n${data(fileContent(index, commit))}`;
  }
}

/** One more commit on top of main, as a push would add. */
export function* nextCommitStream(shape: HistoryShape, commit: number): Generator<string> {
  const index = (commit * 7_919) % shape.files;
  yield `${commitHeader(commit, `change file ${index}\n`)}from refs/heads/main^0\nM 100644 inline ${filePath(index)}\n${data(fileContent(index, commit))}`;
}

/** Feeds a stream into `git fast-import` in a bare repository (the server's own, so no push). */
export async function fastImport(bareDir: string, chunks: Iterable<string>, home: string): Promise<void> {
  const child = spawn('git', ['fast-import', '--quiet', '--force'], { cwd: bareDir, env: { ...gitEnvironment(home), GIT_DIR: bareDir }, stdio: ['pipe', 'ignore', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  for (const chunk of chunks) {
    if (!child.stdin.write(chunk)) await new Promise((resolve) => child.stdin.once('drain', resolve));
  }
  child.stdin.end();
  const code = await exited;
  if (code !== 0) throw new Error(`git fast-import exited ${code}: ${Buffer.concat(stderr).toString().slice(0, 2000)}`);
}
