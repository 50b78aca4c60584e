import { spawn } from 'node:child_process';
import * as fsPromises from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { systemClock } from '../agent/clock.js';
import type { SecretsDeps } from './commands.js';

/** Runs `$EDITOR file` through sh, as git does, so EDITOR may carry arguments (`code --wait`). */
export function spawnEditor(editorCommand: string, filePath: string): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn('/bin/sh', ['-c', `${editorCommand} "$1"`, 'capstan-editor', filePath], { stdio: 'inherit' });
    child.on('error', fail);
    child.on('exit', (code, signal) => done(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}

/** The real process, for the composition root only. */
export function systemSecretsDeps(): SecretsDeps {
  return {
    fs: fsPromises,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    clock: systemClock,
    spawnEditor,
    editTempDirs: ['/dev/shm', tmpdir()],
  };
}
