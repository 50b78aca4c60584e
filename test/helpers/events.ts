// Docker's event stream for one test node, to act at an exact step of what its agent does
// (kill -9 right after a `create`, start a second command while a rollout runs).
import type { ChildProcess } from 'node:child_process';
import { docker, waitFor } from './docker.js';

export interface DockerEvent {
  Type: string;
  Action: string;
  Actor?: { Attributes?: Record<string, string> };
}

export interface EventWaitOptions {
  /** Default 60 s. */
  timeoutMs?: number;
  /** Rejects at once when this process exits before the event. */
  process?: ChildProcess;
  /** Runs synchronously as the event arrives, before anything else can happen (a kill). */
  onMatch?: (event: DockerEvent) => void;
}

/** Resolves with the first container event labelled `capstan.node=<node>` that `matches`. */
export async function waitForEvent(node: string, matches: (event: DockerEvent) => boolean, { timeoutMs = 60_000, process, onMatch }: EventWaitOptions = {}): Promise<DockerEvent> {
  const stream = (await docker.getEvents({ filters: { type: ['container'], label: [`capstan.node=${node}`] } })) as NodeJS.ReadableStream & { destroy(): void };
  try {
    return await new Promise<DockerEvent>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching Docker event within ${timeoutMs} ms`)), timeoutMs);
      let buffer = '';
      let done = false;
      stream.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let newline: number;
        while (!done && (newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          const event = line.trim() ? (JSON.parse(line) as DockerEvent) : undefined;
          if (event && matches(event)) {
            done = true;
            onMatch?.(event);
            clearTimeout(timer);
            resolve(event);
          }
        }
      });
      process?.once('exit', () => {
        clearTimeout(timer);
        if (!done) reject(new Error('the process exited before the event'));
      });
    });
  } finally {
    stream.destroy();
  }
}

/** Kills `agent` with SIGKILL at the first matching event of `node`, and waits until it is dead. */
export async function killOn(agent: ChildProcess, node: string, matches: (event: DockerEvent) => boolean): Promise<void> {
  await waitForEvent(node, matches, { process: agent, onMatch: () => agent.kill('SIGKILL') });
  await waitFor(() => agent.exitCode !== null || agent.signalCode !== null, { timeoutMs: 10_000, what: 'the agent to die' });
}
