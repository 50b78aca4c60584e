// Runs a service's lifecycle hooks (`post_start`, `pre_stop`) in one replica with the Docker exec
// API, as docker/compose does (pkg/compose/hook.go: ContainerExecCreate with the hook's command,
// user, privileged, working_dir and environment, then the exit code from ContainerExecInspect).
// One after the other, all within one deadline. No decisions: the plan says which hooks run where.
import type Docker from 'dockerode';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { LifecycleHook } from '../../model.js';
import { FrameReader } from '../../output/frames.js';
import { lastLines } from '../../output/bounded.js';
import { redactValues } from '../../redact.js';
import { OutputKeptError } from './execute-kept-output.js';
import type { ContainerRef } from './types.js';

export type LifecycleKind = 'post_start' | 'pre_stop';

export interface LifecycleDeps {
  docker: Docker;
  clock: Clock;
  log: Logger;
  /** Scrubbed from the output before it is logged or kept. */
  secrets: readonly string[];
  pollIntervalMs?: number;
}

/** What one hook's output keeps: its tail, enough for the failure and the log. */
const KEPT_OUTPUT_BYTES = 64 * 1024;

type Outcome = { exitCode: number; output: string } | { exitCode: null; output: string };

/**
 * Runs `hooks` in order in `container`, within `timeoutMs` for all of them. Throws an
 * OutputKeptError naming the first hook that exited non-zero or did not finish in time; the
 * hooks after it do not run. A hook still running at the deadline is left to the container
 * (Docker cannot kill an exec): the caller stops or removes the container.
 */
export async function runLifecycleHooks(kind: LifecycleKind, container: ContainerRef, hooks: LifecycleHook[], timeoutMs: number, deps: LifecycleDeps): Promise<void> {
  const deadline = deps.clock.now() + timeoutMs;
  for (const [index, hook] of hooks.entries()) {
    const outcome = await runOne(container.ref, hook, deadline, deps);
    const output = redactValues(outcome.output, deps.secrets);
    const hookName = `${kind} hook ${index + 1} of ${hooks.length}`;
    if (outcome.exitCode === 0) {
      deps.log.info({ container: container.name, hook: hookName, ...(output ? { output: lastLines(output, 20, 2048) } : {}) }, `${kind} hook done`);
      continue;
    }
    const why = outcome.exitCode === null ? `did not finish within ${Math.round(timeoutMs / 1000)} s` : `exited with code ${outcome.exitCode}`;
    throw new OutputKeptError(
      'LIFECYCLE_HOOK_FAILED',
      `${hookName} (${hook.command[0]}) in ${container.name} ${why}`,
      { container: container.name, kind, hook: index + 1, exitCode: outcome.exitCode },
      { kind: 'replica', subject: container.name, exitCode: outcome.exitCode, output: lastLines(output) },
    );
  }
}

async function runOne(ref: string, hook: LifecycleHook, deadline: number, deps: LifecycleDeps): Promise<Outcome> {
  const exec = await deps.docker.getContainer(ref).exec({
    Cmd: hook.command,
    ...(hook.user !== undefined ? { User: hook.user } : {}),
    ...(hook.privileged ? { Privileged: true } : {}),
    ...(hook.workingDir !== undefined ? { WorkingDir: hook.workingDir } : {}),
    ...(hook.environment ? { Env: Object.entries(hook.environment).map(([name, value]) => `${name}=${value}`) } : {}),
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const frames = new FrameReader();
  let tail = '';
  const ended = new Promise<'ended'>((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      for (const frame of frames.push(chunk)) tail = (tail + frame.data.toString('utf8')).slice(-KEPT_OUTPUT_BYTES);
    });
    stream.on('end', () => resolve('ended'));
    stream.on('close', () => resolve('ended'));
    // A broken attach is not the hook's verdict: its exit code still is, read below.
    stream.on('error', () => resolve('ended'));
  });
  // Short sleeps, never one as long as the deadline: a timer left behind would hold a one-shot CLI open.
  let state: 'ended' | 'running' = 'running';
  while (state === 'running') {
    if (deps.clock.now() >= deadline) {
      stream.destroy();
      return { exitCode: null, output: tail };
    }
    const pause = Math.min(deps.pollIntervalMs ?? 250, Math.max(1, deadline - deps.clock.now()));
    state = await Promise.race([ended, deps.clock.sleep(pause).then(() => 'running' as const)]);
  }
  // The stream ends as the process does; the engine may record its exit code a moment later.
  for (;;) {
    const inspected = await exec.inspect();
    if (!inspected.Running && inspected.ExitCode !== null) return { exitCode: inspected.ExitCode, output: tail };
    if (deps.clock.now() >= deadline) return { exitCode: null, output: tail };
    await deps.clock.sleep(Math.min(deps.pollIntervalMs ?? 250, Math.max(1, deadline - deps.clock.now())));
  }
}
