// The git source in-process, as the agent builds it (isomorphic-git over HTTP, the real fs),
// and what a checkout holds, for the source tests. The one place they import the source from.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { lstat, mkdir, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import http from 'isomorphic-git/http/node';
import pino from 'pino';
import { createGitSource, type GitSource } from '../../agent/source/index.js';
import type { RemoteRepo } from './git-server.js';

export type { GitSource };

export interface SourceHarness {
  source: GitSource;
  /** The source's log, one JSON line each (empty unless `logLevel` lets lines through). */
  logLines: string[];
  /** Each back-off the source asked its clock to sleep, in ms; the clock never sleeps. */
  sleeps: number[];
}

export interface SourceOptions {
  token?: string;
  /** Default `main`. */
  branch?: string;
  requestTimeoutMs?: number;
  /** Default `silent`. */
  logLevel?: pino.LevelWithSilent;
}

/** A source of `repo`, its cache in `stateDir`. */
export function makeSource(repo: string, stateDir: string, { token, branch = 'main', requestTimeoutMs, logLevel = 'silent' }: SourceOptions = {}): SourceHarness {
  const logLines: string[] = [];
  const sleeps: number[] = [];
  const logger = pino({ level: logLevel, base: undefined }, { write: (line: string) => void logLines.push(line) });
  const clock = { now: () => Date.now(), sleep: async (ms: number) => void sleeps.push(ms) };
  const source = createGitSource({ repo, branch, stateDir, token }, { fs, http, logger, clock, requestTimeoutMs });
  return { source, logLines, sleeps };
}

/** Every entry under `dir`: type, executable bit, and content or link target. */
export async function snapshot(dir: string, prefix = ''): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  for (const name of (await readdir(join(dir, prefix))).sort()) {
    const relative = prefix === '' ? name : `${prefix}/${name}`;
    const absolute = join(dir, relative);
    const stat = await lstat(absolute);
    if (stat.isSymbolicLink()) entries[relative] = `symlink -> ${await readlink(absolute)}`;
    else if (stat.isDirectory()) Object.assign(entries, { [relative]: 'dir' }, await snapshot(dir, relative));
    else entries[relative] = `file ${stat.mode & 0o111 ? 'x' : '-'} ${(await readFile(absolute)).toString('base64')}`;
  }
  return entries;
}

/** What the git CLI checks out for `commit`, as a snapshot. */
export async function gitArchive(repo: RemoteRepo, commit: string, scratch: string): Promise<Record<string, string>> {
  const dir = join(scratch, `archive-${commit}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await repo.git('archive', '--format=tar', '-o', join(scratch, `${commit}.tar`), commit);
  execFileSync('tar', ['-x', '-f', join(scratch, `${commit}.tar`), '-C', dir], { timeout: 30_000 });
  return snapshot(dir);
}
