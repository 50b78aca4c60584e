// Loads dockerode without the two parts of it Capstan never calls. When required, dockerode
// requires lib/session.js (BuildKit sessions: @grpc/grpc-js, protobufjs, uuid) and docker-modem
// requires lib/ssh.js (ssh:// hosts: ssh2). That is 172 of the agent's 504 CommonJS modules and
// ~6 MB of resident memory for its whole life. Neither dockerode 4.0.8 or 5.0.1 nor docker-modem
// 5.0.7 defers them, so before dockerode is first required each of the two files is put in
// require's cache as a stand-in function that requires the real file on its first call (an
// ssh:// DOCKER_HOST still works: its first request loads ssh2).
import { existsSync, readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type Docker from 'dockerode';

/**
 * The files deferred, by the package that holds them, and the major versions whose layout was
 * checked: each file's export is the one function its package calls. Any other version, or a
 * file that moved, is loaded as usual.
 */
const DEFERRED = [
  { packageName: 'dockerode', file: 'lib/session.js', majors: [4, 5] },
  { packageName: 'docker-modem', file: 'lib/ssh.js', majors: [5] },
] as const;

type ModuleFunction = (...args: unknown[]) => unknown;

/**
 * Puts the stand-ins in require's cache, resolving dockerode (and docker-modem from it) from
 * `from`; returns the paths deferred, none when the layout is not the known one.
 */
export function deferUnusedDockerModules(from: string = import.meta.url): string[] {
  const requireFrom = createRequire(from);
  const dockerodeDir = packageDir(requireFrom, 'dockerode');
  const modemDir = dockerodeDir && packageDir(createRequire(join(dockerodeDir, 'package.json')), 'docker-modem');
  if (!dockerodeDir || !modemDir) return [];
  const targets = DEFERRED.map((deferred) => ({ ...deferred, dir: deferred.packageName === 'dockerode' ? dockerodeDir : modemDir }));
  const known = targets.every((target) => (target.majors as readonly number[]).includes(majorVersion(target.dir)) && existsSync(join(target.dir, target.file)));
  if (!known) return [];
  const deferred: string[] = [];
  for (const target of targets) {
    const path = join(target.dir, target.file);
    // Already loaded (by the real file or an earlier call): nothing left to save.
    if (requireFrom.cache[path]) continue;
    requireFrom.cache[path] = standIn(path, requireFrom);
    deferred.push(path);
  }
  return deferred;
}

function standIn(path: string, requireFrom: NodeJS.Require): Module {
  let real: ModuleFunction | undefined;
  const lazy = function (this: unknown, ...args: unknown[]): unknown {
    if (!real) {
      // Out of the cache first, so that require reads the real file (and caches it for good).
      delete requireFrom.cache[path];
      real = requireFrom(path) as ModuleFunction;
    }
    return real.apply(this, args);
  };
  const module = new Module(path);
  module.filename = path;
  module.loaded = true;
  module.exports = lazy;
  return module;
}

function packageDir(requireFrom: NodeJS.Require, packageName: string): string | undefined {
  try {
    return dirname(requireFrom.resolve(`${packageName}/package.json`));
  } catch {
    return undefined;
  }
}

function majorVersion(dir: string): number {
  try {
    const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string };
    return Number(String(version).split('.')[0]);
  } catch {
    return Number.NaN;
  }
}

let dockerode: typeof Docker | undefined;

/** dockerode's class, loaded on first use with the stand-ins in place. */
export function loadDockerode(): typeof Docker {
  if (!dockerode) {
    deferUnusedDockerModules();
    dockerode = createRequire(import.meta.url)('dockerode') as typeof Docker;
  }
  return dockerode;
}

export function connectDocker(): Docker {
  // DOCKER_HOST (unix://, tcp:// or ssh://) is honoured by docker-modem; default is the local socket.
  return new (loadDockerode())();
}
