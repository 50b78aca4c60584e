// restic as a subprocess: Debian's `restic` package, found on PATH. The repository and its
// credentials travel in the environment only (repositories.ts); stderr, which restic fills with
// the repository location and whatever the backend said, is bounded and redacted before it
// becomes an error message.
import { spawn } from 'node:child_process';
import { CapstanError } from '../errors.js';
import { lastLines } from '../output/bounded.js';

/** stdout kept from one call: `snapshots --json` of a repository with thousands of snapshots fits. */
const MAX_STDOUT = 64 * 1024 * 1024;

export interface ResticRun {
  (args: string[], options?: { cwd?: string; stdin?: string | Buffer; okCodes?: number[] }): Promise<{ stdout: string; stderr: string; code: number }>;
}

export interface ResticDeps {
  env: Record<string, string>;
  redact: (text: string) => string;
  /** The binary; `restic` on PATH by default (CAPSTAN_RESTIC). */
  binary?: string;
  /** Called with the child's pid when it starts (tests kill it mid-backup). */
  onSpawn?: (pid: number) => void;
}

/** A runner bound to one repository's environment. Rejects with RESTIC_FAILED on a code outside okCodes. */
export function resticRunner(deps: ResticDeps): ResticRun {
  return (args, options = {}) =>
    new Promise((resolve, reject) => {
      const child = spawn(deps.binary ?? 'restic', args, { cwd: options.cwd, env: deps.env, stdio: ['pipe', 'pipe', 'pipe'] });
      if (child.pid !== undefined) deps.onSpawn?.(child.pid);
      const out: Buffer[] = [];
      let outBytes = 0;
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => {
        outBytes += chunk.length;
        if (outBytes <= MAX_STDOUT) out.push(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        err = (err + chunk.toString('utf8')).slice(-64 * 1024);
      });
      child.on('error', (error: NodeJS.ErrnoException) => {
        const hint = error.code === 'ENOENT' ? ' (install restic: apt-get install restic)' : '';
        reject(new CapstanError('RESTIC_MISSING', 'terminal', `cannot run restic: ${error.code ?? error.message}${hint}`, {}, { cause: error }));
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.stdin ?? '');
      child.on('close', (code, signal) => {
        const stdout = Buffer.concat(out).toString('utf8');
        const stderr = deps.redact(lastLines(err, 20, 4096));
        const exit = code ?? 128;
        if ((options.okCodes ?? [0]).includes(exit)) return resolve({ stdout, stderr, code: exit });
        const how = signal ? `killed by ${signal}` : `exit code ${exit}`;
        reject(new CapstanError('RESTIC_FAILED', 'transient', `restic ${args[0]} failed (${how}): ${stderr || 'no output'}`, { command: args[0], code: exit }));
      });
    });
}

/** One snapshot as `restic snapshots --json` lists it. */
export interface ResticSnapshot {
  id: string;
  short_id: string;
  time: string;
  hostname: string;
  tags?: string[];
  paths: string[];
}

export function parseSnapshots(stdout: string): ResticSnapshot[] {
  const parsed: unknown = JSON.parse(stdout || '[]');
  return Array.isArray(parsed) ? (parsed as ResticSnapshot[]) : [];
}

/** The `summary` line of `restic backup --json`. */
export interface BackupSummary {
  snapshot_id: string;
  total_bytes_processed: number;
  data_added: number;
  total_duration: number;
}

export function parseBackupSummary(stdout: string): BackupSummary {
  for (const line of stdout.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    const message = JSON.parse(line) as { message_type?: string } & BackupSummary;
    if (message.message_type === 'summary' && message.snapshot_id) return message;
  }
  throw new CapstanError('RESTIC_FAILED', 'transient', 'restic backup printed no summary (no snapshot was saved)');
}

/** Creates the repository on first use: `restic cat config` fails only for one that does not exist (or a wrong password). */
export async function ensureRepository(restic: ResticRun): Promise<void> {
  const probe = await restic(['cat', 'config'], { okCodes: [0, 1] });
  if (probe.code === 0) return;
  if (!/Is there a repository at the following location|unable to open config file/.test(probe.stderr)) {
    throw new CapstanError('RESTIC_FAILED', 'transient', `restic cannot open the repository: ${probe.stderr}`);
  }
  await restic(['init']);
}
