import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { composeFile } from './manifests.js';
import { timed, type TimedResult } from './timed-process.js';

/** Which Compose the bench measures against: `docker-compose` (v1) or `docker compose` (v2). */
export interface ComposeTool {
  command: string;
  prefixArgs: string[];
  version: string;
}

export interface ComposeProject {
  tool: ComposeTool;
  name: string;
  dir: string;
  dockerHost?: string;
}

export async function detectCompose(): Promise<ComposeTool> {
  for (const candidate of [{ command: 'docker', prefixArgs: ['compose'] }, { command: 'docker-compose', prefixArgs: [] }]) {
    try {
      const { stdout } = await timed(candidate.command, [...candidate.prefixArgs, 'version', '--short'], { timeoutMs: 30_000 });
      return { ...candidate, version: stdout.trim() };
    } catch {
      // Try the next one.
    }
  }
  throw new Error('neither `docker compose` nor `docker-compose` is installed (bench/run.sh installs it)');
}

export async function writeComposeFile(project: ComposeProject, count: number): Promise<void> {
  await writeFile(join(project.dir, 'docker-compose.yml'), composeFile(count));
}

/**
 * Compose v1 runs one thread per service, each of which starts a nested thread for its
 * container, and both levels take a permit of one global semaphore (COMPOSE_PARALLEL_LIMIT,
 * default 64). With more than ~64 services in flight every permit can end up held by an outer
 * thread waiting for its inner one: `up -d` of 100 services hung for good in 2 of 3 runs here
 * (docker/compose#7486, #8161; a limit of 16 hung on the first container). A limit well above
 * twice the service count removes that deadlock without slowing anything down.
 */
const composeParallelLimit = '1024';

function composeEnv(project: ComposeProject): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, COMPOSE_PROJECT_NAME: project.name, COMPOSE_PARALLEL_LIMIT: composeParallelLimit };
  delete env.DOCKER_HOST;
  if (project.dockerHost) env.DOCKER_HOST = project.dockerHost;
  return env;
}

export function composeRun(project: ComposeProject, args: string[], options: { sampleRss?: boolean; timeoutMs?: number } = {}): Promise<TimedResult> {
  return timed(project.tool.command, [...project.tool.prefixArgs, '-p', project.name, '-f', join(project.dir, 'docker-compose.yml'), ...args], {
    env: composeEnv(project),
    cwd: project.dir,
    timeoutMs: options.timeoutMs ?? 600_000,
    sampleRss: options.sampleRss,
  });
}

/**
 * Should Compose stall all the same (see composeParallelLimit), a run still going after 2
 * minutes (a good one takes ~20 s at N = 100) is killed, its containers removed, and the run made
 * again, at most twice; the stalls are counted and reported.
 */
export async function composeUp(project: ComposeProject, options: { sampleRss?: boolean; onStall?: () => Promise<void> } = {}): Promise<TimedResult & { stalls: number }> {
  const maxStalls = 2;
  for (let stalls = 0; ; stalls++) {
    try {
      return { ...(await composeRun(project, ['up', '-d'], { sampleRss: options.sampleRss, timeoutMs: 120_000 })), stalls };
    } catch (error) {
      if (stalls >= maxStalls || !/by signal/.test(String(error))) throw error;
      await options.onStall?.();
    }
  }
}

export const composeDown = (project: ComposeProject) => composeRun(project, ['down', '--timeout', '10']);
