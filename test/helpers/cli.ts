// Runs the built CLI (dist/agent/main.js) the way a user does: a separate node process with its
// own environment. Every wait is bounded; a child that outlives its timeout is SIGKILLed, and any
// child still alive when the test process exits is killed with it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

export interface CliOptions {
  /** Added to the inherited environment, from which every CAPSTAN_* variable is removed first so
   * a developer's shell cannot change a test. An `undefined` value removes a variable. */
  env?: Record<string, string | undefined>;
  /** Default: an empty folder, so no `.env` of the developer's (read from the working directory)
   * reaches the CLI. */
  cwd?: string;
  /** Written to the child's stdin, which is then closed. */
  stdin?: string;
}

export interface RunOptions extends CliOptions {
  /** Default 60 s. */
  timeoutMs?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class CliTimeoutError extends Error {
  readonly stdout: string;
  readonly stderr: string;

  constructor(command: string, timeoutMs: number, stdout: string, stderr: string) {
    super(
      `${command} still running after ${timeoutMs} ms; killed with SIGKILL\n` +
        `--- stdout (tail) ---\n${tail(stdout)}\n--- stderr (tail) ---\n${tail(stderr)}`,
    );
    this.name = 'CliTimeoutError';
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

function tail(text: string, lineCount = 20): string {
  return text.split('\n').slice(-lineCount).join('\n');
}

/** The CLI entry point, as package.json's `bin` names it. */
export function capstanEntry(): string {
  return join(repoRoot(), 'dist', 'agent', 'main.js');
}

function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('CAPSTAN_')) env[name] = value;
  }
  env.NO_COLOR = '1';
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

const liveChildren = new Set<ChildProcess>();
let emptyCwd: string | undefined;
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; kill() and rmSync are.
  process.on('exit', () => {
    for (const leftover of liveChildren) leftover.kill('SIGKILL');
    if (emptyCwd) rmSync(emptyCwd, { recursive: true, force: true });
  });
}

function defaultCwd(): string {
  installExitHook();
  emptyCwd ??= mkdtempSync(join(tmpdir(), 'capstan-cli-cwd-'));
  return emptyCwd;
}

function track(child: ChildProcess): void {
  installExitHook();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

interface Capture {
  stdout: string;
  stdoutLines: string[];
  partialLine: string;
  stderr: string;
  /** Index of the first stdout line the next waitForLine looks at. */
  cursor: number;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  notify: Set<() => void>;
}

const captures = new WeakMap<ChildProcess, Capture>();

function capture(child: ChildProcess): Capture {
  const existing = captures.get(child);
  if (existing) return existing;
  const state: Capture = { stdout: '', stdoutLines: [], partialLine: '', stderr: '', cursor: 0, exit: undefined, notify: new Set() };
  captures.set(child, state);
  const wake = () => {
    for (const listener of [...state.notify]) listener();
  };
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    state.stdout += chunk;
    const pieces = (state.partialLine + chunk).split('\n');
    state.partialLine = pieces.pop() ?? '';
    state.stdoutLines.push(...pieces);
    wake();
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    state.stderr += chunk;
  });
  // 'close' comes after the output streams have ended, so no line is lost.
  child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
    if (state.partialLine) state.stdoutLines.push(state.partialLine);
    state.partialLine = '';
    state.exit = { code, signal };
    wake();
  });
  return state;
}

/** Everything a spawned child has printed so far. */
export function outputOf(child: ChildProcess): { stdout: string; stderr: string } {
  const state = capture(child);
  return { stdout: state.stdout, stderr: state.stderr };
}

/** Starts `node ...nodeArgs` with piped stdio; the base of runNode and spawnCapstan. */
export function spawnNode(nodeArgs: string[], { env, cwd, stdin }: CliOptions = {}): ChildProcess {
  const child = spawn(process.execPath, nodeArgs, {
    cwd: cwd ?? defaultCwd(),
    env: childEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  track(child);
  capture(child);
  if (stdin !== undefined) child.stdin?.end(stdin);
  else child.stdin?.end();
  return child;
}

/** Runs `node ...nodeArgs` to completion; rejects with CliTimeoutError after SIGKILL on timeout. */
export function runNode(nodeArgs: string[], { timeoutMs = 60_000, ...options }: RunOptions = {}): Promise<RunResult> {
  const child = spawnNode(nodeArgs, options);
  const command = `node ${nodeArgs.join(' ')}`;
  return new Promise<RunResult>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      const { stdout, stderr } = outputOf(child);
      if (timedOut) reject(new CliTimeoutError(command, timeoutMs, stdout, stderr));
      else resolve({ code, signal, stdout, stderr });
    });
  });
}

function requireEntry(): string {
  const entry = capstanEntry();
  if (!existsSync(entry)) {
    throw new Error(`${entry} does not exist: build first (npx tsc -p .)`);
  }
  return entry;
}

/** `capstan ...args` to completion, e.g. `await runCapstan(['once', '--repo', repoPath])`. */
export function runCapstan(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return runNode([requireEntry(), ...args], options);
}

/** A long-running `capstan run`; stop it with stopProcess, and read it with waitForLine. */
export function spawnCapstan(args: string[], options: CliOptions = {}): ChildProcess {
  return spawnNode([requireEntry(), ...args], options);
}

export interface MatchedLine {
  line: string;
  /** The line parsed as JSON (pino writes one object per line), or undefined if it is not. */
  json: Record<string, unknown> | undefined;
}

function parseJsonLine(line: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(line);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resolves with the first stdout line, after the one the previous call matched, that matches
 * `pattern` (a regex on the raw line, or a predicate on the line and its JSON). So two calls in a
 * row wait for two distinct lines, e.g. two "cycle finished" entries. Rejects on timeout or when
 * the child exits first, quoting its last output.
 */
export function waitForLine(
  child: ChildProcess,
  pattern: RegExp | ((line: string, json: Record<string, unknown> | undefined) => boolean),
  timeoutMs = 30_000,
): Promise<MatchedLine> {
  const state = capture(child);
  const matches = (line: string): MatchedLine | undefined => {
    const json = parseJsonLine(line);
    const matched = pattern instanceof RegExp ? line.search(pattern) !== -1 : pattern(line, json);
    return matched ? { line, json } : undefined;
  };
  const describe = () => `${pattern}`;

  return new Promise<MatchedLine>((resolve, reject) => {
    const finish = (outcome: () => void) => {
      clearTimeout(timer);
      state.notify.delete(check);
      outcome();
    };
    const failure = (why: string) => {
      const { stdout, stderr } = outputOf(child);
      return new Error(`${why} waiting for a line matching ${describe()}\n` +
        `--- stdout (tail) ---\n${tail(stdout)}\n--- stderr (tail) ---\n${tail(stderr)}`);
    };
    const check = () => {
      while (state.cursor < state.stdoutLines.length) {
        const line = state.stdoutLines[state.cursor++];
        const found = matches(line);
        if (found) return finish(() => resolve(found));
      }
      if (state.exit) {
        const { code, signal } = state.exit;
        finish(() => reject(failure(`process exited (code ${code}, signal ${signal})`)));
      }
    };
    const timer = setTimeout(() => finish(() => reject(failure(`timed out after ${timeoutMs} ms`))), timeoutMs);
    state.notify.add(check);
    check();
  });
}

/**
 * Sends `signal` (default SIGTERM, which lets `capstan run` finish its cycle) and waits for the
 * exit; SIGKILLs after `timeoutMs` and says so in `killed`.
 */
export function stopProcess(
  child: ChildProcess,
  { signal = 'SIGTERM', timeoutMs = 30_000 }: { signal?: NodeJS.Signals; timeoutMs?: number } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
  const state = capture(child);
  return new Promise((resolve) => {
    if (state.exit) return resolve({ ...state.exit, killed: false });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('close', (code: number | null, exitSignal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      resolve({ code, signal: exitSignal, killed });
    });
    child.kill(signal);
  });
}
