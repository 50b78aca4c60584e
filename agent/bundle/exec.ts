import { execFile } from 'node:child_process';

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a tool (git, ssh-keygen, gpg) with no shell, bounded in time and output. Rejects with the
 * tool's own stderr (first lines) so the caller can say what went wrong.
 */
export function execTool(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, {
      cwd: options.cwd,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LANG: 'C', ...options.env },
      timeout: options.timeoutMs ?? 30 * 60_000,
      maxBuffer: 64 * 1024 * 1024,
    }, (error, stdout, stderr) => {
      if (error) {
        const detail = stderr.trim().split('\n').slice(0, 5).join('; ') || error.message;
        reject(Object.assign(new Error(`${command} ${args[0] ?? ''} failed: ${detail}`), { stderr, exitCode: (error as { code?: unknown }).code }));
      } else resolve({ stdout, stderr });
    });
  });
}
