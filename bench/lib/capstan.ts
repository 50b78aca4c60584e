import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { capstanEntry } from './paths.js';
import { RssSampler } from './rss.js';
import { timed, type TimedResult } from './timed-process.js';

export interface CapstanSetup {
  repoUrl: string;
  token: string;
  node: string;
  stateDir: string;
  /** Working directory, so no `.env` of the repository is picked up. */
  cwd: string;
  /** unix:// address of the counting proxy; the engine's own socket when absent. */
  dockerHost?: string;
  schedule?: string;
  /** Extra flags for node itself, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  /** More CAPSTAN_* settings, e.g. CAPSTAN_POLL_INTERVAL, CAPSTAN_PATH. */
  env?: Record<string, string>;
}

export interface CycleLine {
  result: 'applied' | 'in-sync' | 'failed';
  durationMs: number;
  /** How many changes the cycle made (its plan's change summary). */
  changes: number;
  reason?: string;
  /** Date.now() when the line was read. */
  atMs: number;
}

export function capstanEnv(setup: CapstanSetup): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CAPSTAN_') && name !== 'DOCKER_HOST'));
  return {
    ...inherited,
    CAPSTAN_REPO: setup.repoUrl,
    CAPSTAN_GIT_TOKEN: setup.token,
    CAPSTAN_NODE: setup.node,
    CAPSTAN_STATE_DIR: setup.stateDir,
    ...(setup.schedule ? { CAPSTAN_SCHEDULE: setup.schedule } : {}),
    ...(setup.dockerHost ? { DOCKER_HOST: setup.dockerHost } : {}),
    ...setup.env,
  };
}

export function parseCycleLine(line: string): CycleLine | undefined {
  if (!line.includes('"cycle finished"')) return undefined;
  try {
    const record = JSON.parse(line) as { msg?: string; result?: CycleLine['result']; durationMs?: number; changes?: number; reason?: string };
    if (record.msg !== 'cycle finished' || record.result === undefined || record.durationMs === undefined) return undefined;
    return { result: record.result, durationMs: record.durationMs, changes: record.changes ?? 0, reason: record.reason, atMs: Date.now() };
  } catch {
    return undefined;
  }
}

export interface OnceResult extends TimedResult {
  cycle: CycleLine;
}

/** `capstan once`: wall time including Node start-up, and the cycle line it logged (to stderr). */
export async function capstanOnce(setup: CapstanSetup, options: { sampleRss?: boolean } = {}): Promise<OnceResult> {
  const result = await timed(process.execPath, [...(setup.nodeArgs ?? []), capstanEntry(), 'once'], {
    env: capstanEnv(setup),
    cwd: setup.cwd,
    timeoutMs: 600_000,
    sampleRss: options.sampleRss,
  });
  const cycle = result.stderr.split('\n').map(parseCycleLine).find((line) => line !== undefined);
  if (!cycle) throw new Error(`capstan once logged no 'cycle finished' line:\n${result.stderr.slice(-2000)}`);
  return { ...result, cycle };
}

/** `capstan run` in the background, its cycle lines collected and its memory sampled. */
export class RunningAgent {
  readonly cycles: CycleLine[] = [];
  /** Every line of its stdout, when asked for (`keepLines`): a debug timeline. */
  readonly lines: string[] = [];
  readonly rss: RssSampler;
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private readonly waiters = new Set<() => void>();
  private stderrTail = '';

  constructor(setup: CapstanSetup, options: { keepLines?: boolean } = {}) {
    this.child = spawn(process.execPath, [...(setup.nodeArgs ?? []), capstanEntry(), 'run'], {
      env: capstanEnv(setup),
      cwd: setup.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (this.child.pid === undefined) throw new Error('capstan run did not start');
    // A bench stopped mid-figure (SIGINT, a thrown error) must not leave the agent running.
    const killOnExit = () => this.child.kill('SIGKILL');
    process.once('exit', killOnExit);
    this.child.once('close', () => process.off('exit', killOnExit));
    this.rss = new RssSampler(this.child.pid);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (options.keepLines) this.lines.push(line);
      const cycle = parseCycleLine(line);
      if (!cycle) return;
      this.cycles.push(cycle);
      for (const wake of this.waiters) wake();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000);
    });
    this.exited = new Promise((resolve) => this.child.on('close', (code) => {
      this.rss.stop();
      for (const wake of this.waiters) wake();
      resolve(code);
    }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves once `count` cycles in total have finished; throws after `timeoutMs` or on exit. */
  async waitForCycles(count: number, timeoutMs: number): Promise<CycleLine[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.cycles.length < count) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`capstan run exited (${this.child.exitCode ?? this.child.signalCode}) after ${this.cycles.length} cycle(s):\n${this.stderrTail}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`capstan run: ${this.cycles.length} of ${count} cycles after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      }).finally(() => this.waiters.clear());
    }
    return this.cycles.slice(0, count);
  }

  /** SIGTERM (the agent finishes its cycle in flight), SIGKILL if it is still there after 60 s. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 60_000);
      try {
        return await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return this.exited;
  }
}
