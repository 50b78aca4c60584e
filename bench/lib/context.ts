import type { GitServer } from '../../test/helpers/git-server.js';
import type { ComposeTool } from './compose.js';
import type { CountingDockerProxy } from './docker-proxy.js';
import type { TempDirs } from './paths.js';

/** What every figure shares: names that are this run's own, the servers, and how many repetitions. */
export interface BenchContext {
  /** Unique to this run; labels everything the bench creates by hand. */
  runId: string;
  /** CAPSTAN_NODE: everything Capstan creates carries `capstan.node=<node>`. */
  node: string;
  /** The Capstan app name, and so the container name prefix `<app>-svc000-1`. */
  app: string;
  /** The Compose project name; containers `<project>_svc000_1`. */
  composeProject: string;
  compose: ComposeTool;
  git: GitServer;
  token: string;
  proxy: CountingDockerProxy;
  temp: TempDirs;
  /** Repetitions per tool and figure; fewer for the largest sizes. */
  reps: number;
  log(message: string): void;
}

export const capstanLabel = (context: BenchContext) => `capstan.node=${context.node}`;
export const composeLabel = (context: BenchContext) => `com.docker.compose.project=${context.composeProject}`;
export const benchLabel = (context: BenchContext) => `capstan-bench.run=${context.runId}`;
