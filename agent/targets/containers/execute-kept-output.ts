import type Docker from 'dockerode';
import { CapstanError } from '../../errors.js';
import { redactValues } from '../../redact.js';
import type { KeptOutput } from '../target.js';
import { demuxLogs } from '../../output/frames.js';
import { KEPT_LINES, lastLines } from '../../output/bounded.js';

/**
 * The last lines a replica printed, read through the Docker API before anything removes it.
 * Empty when Docker cannot give them (a log driver without read support, the container gone):
 * keeping output must never turn one failure into another.
 */
export async function replicaOutput(docker: Docker, ref: string, tty: boolean): Promise<string> {
  try {
    const buffer = await docker.getContainer(ref).logs({ stdout: true, stderr: true, follow: false, tail: KEPT_LINES });
    return lastLines(demuxLogs(Buffer.isBuffer(buffer) ? buffer : Buffer.from(String(buffer)), tty));
  } catch {
    return '';
  }
}

/** A replica or build failure that carries what it printed last (kept in SQLite by the reconciler). */
export class OutputKeptError extends CapstanError {
  constructor(
    code: string,
    message: string,
    data: Record<string, unknown>,
    readonly kept: KeptOutput,
    options?: { cause?: unknown },
  ) {
    super(code, 'terminal', message, data, options);
    this.name = 'OutputKeptError';
  }
}

/** The output a failure kept, redacted of `secrets`; undefined when it kept none. */
export function keptOutputOf(error: unknown, secrets: string[] | undefined): KeptOutput | undefined {
  if (!(error instanceof OutputKeptError) || error.kept.output === '') return undefined;
  return { ...error.kept, output: redactValues(error.kept.output, secrets) };
}
