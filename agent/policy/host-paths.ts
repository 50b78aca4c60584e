// Host paths a manifest mounts, judged where they lead on this host, not by how they are written.
// A bind source is resolved (every symbolic link followed, as the engine does when it mounts it):
// `/srv/data/root -> /` must not admit `/srv/data/root/etc`. The loader checks at load, and the
// executor again right before the container is created, with what is on the host then.
//
// A container runtime's socket is root on the host in effect, wherever it lives: Docker's
// (`/var/run/docker.sock`, a rootless engine's `/run/user/UID/docker.sock`), containerd's,
// CRI-O's, Podman's, BuildKit's; and `/proc/PID/root` (or `cwd`) reaches it through any process.
// Mounting one, or a folder that holds one, is refused unless `allow_docker_socket` allows it; a
// socket file found anywhere is recognised by its name or by being the same file (device and
// inode) as a known one, so a hard link does not hide it either.
import { lstat, readdir, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { CapstanError } from '../errors.js';
import type { MountSpec } from '../model.js';
import { READ_ONLY_HOST_FILES, type HostPolicy } from './schema.js';

const SETTING_HINT = 'in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it';

/** Known sockets, as path components; `*` matches one component (a uid, a pid). */
const RUNTIME_SOCKETS: { runtime: string; path: string }[] = [
  { runtime: 'Docker', path: '/var/run/docker.sock' },
  { runtime: 'Docker', path: '/run/docker.sock' },
  { runtime: 'Docker', path: '/run/user/*/docker.sock' },
  { runtime: 'Docker', path: '/var/run/docker/*.sock' },
  { runtime: 'Docker', path: '/run/docker/*.sock' },
  { runtime: 'Docker', path: '/run/snap.docker/docker.sock' },
  { runtime: 'Docker', path: '/var/snap/docker/common/run/docker.sock' },
  { runtime: 'containerd', path: '/run/containerd/containerd.sock' },
  { runtime: 'containerd', path: '/var/run/containerd/containerd.sock' },
  { runtime: 'containerd', path: '/run/docker/containerd/containerd.sock' },
  { runtime: 'containerd', path: '/run/k3s/containerd/containerd.sock' },
  { runtime: 'containerd', path: '/run/user/*/containerd/containerd.sock' },
  { runtime: 'CRI-O', path: '/run/crio/crio.sock' },
  { runtime: 'CRI-O', path: '/var/run/crio/crio.sock' },
  { runtime: 'Podman', path: '/run/podman/podman.sock' },
  { runtime: 'Podman', path: '/var/run/podman/podman.sock' },
  { runtime: 'Podman', path: '/run/user/*/podman/podman.sock' },
  { runtime: 'BuildKit', path: '/run/buildkit/buildkitd.sock' },
  { runtime: 'BuildKit', path: '/run/user/*/buildkit/buildkitd.sock' },
  { runtime: 'cri-dockerd', path: '/run/cri-dockerd.sock' },
  { runtime: 'cri-dockerd', path: '/var/run/cri-dockerd.sock' },
  { runtime: 'dockershim', path: '/var/run/dockershim.sock' },
];

/** Socket file names that are a runtime's wherever they are. */
const SOCKET_NAMES: Record<string, string> = {
  'docker.sock': 'Docker',
  'containerd.sock': 'containerd',
  'crio.sock': 'CRI-O',
  'podman.sock': 'Podman',
  'buildkitd.sock': 'BuildKit',
  'dockershim.sock': 'dockershim',
  'cri-dockerd.sock': 'cri-dockerd',
};

/** A process's view of the whole file system: at, above or below these, the sockets are reachable. */
const PROCESS_ROOTS = ['/proc/<pid>/root', '/proc/<pid>/cwd', '/proc/<pid>/task/<pid>/root', '/proc/<pid>/task/<pid>/cwd', '/proc/<pid>/fd', '/proc/<pid>/map_files'];

/** What host-paths needs of the file system; node:fs/promises by default. */
export interface HostFs {
  lstat(path: string): Promise<{ isSocket(): boolean; isSymbolicLink(): boolean; dev: number; ino: number }>;
  readlink(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
}

const nodeFs: HostFs = { lstat, readlink: (path) => readlink(path), readdir: (path) => readdir(path) };

function components(path: string): string[] {
  return path.split('/').filter((part) => part !== '');
}

function matches(part: string, pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern === '<pid>') return /^([0-9]+|self|thread-self)$/.test(part);
  if (pattern.startsWith('*')) return part.endsWith(pattern.slice(1));
  return part === pattern;
}

/** `path` is `pattern` or a folder above it. */
function atOrAbove(path: string, pattern: string): boolean {
  const have = components(path);
  const want = components(pattern);
  return have.length <= want.length && have.every((part, index) => matches(part, want[index]));
}

/** `path` is `pattern` or below it. */
function atOrBelow(path: string, pattern: string): boolean {
  const have = components(path);
  const want = components(pattern);
  return have.length >= want.length && want.every((part, index) => matches(have[index], part));
}

export function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : root + '/');
}

/** Where a host path leads; `error` when a link on the way cannot be read (then `path` is as far as it got). */
export interface ResolvedPath {
  path: string;
  error?: string;
}

const MAX_LINKS = 40;

/**
 * The host path `path` leads to, every symbolic link followed as the kernel does (at most 40). A
 * path that does not exist yet (a later cycle may find it) is resolved as far as it exists, the
 * rest appended. A link that cannot be read (`/proc/1/root` in a container) stops the walk with
 * the error, and the path written so far, which the socket rules still judge.
 */
export async function resolveHostPath(path: string, fs: HostFs = nodeFs): Promise<ResolvedPath> {
  let pending = components(posix.normalize(path));
  let done = '/';
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done = posix.dirname(done);
      continue;
    }
    const next = posix.join(done, part);
    const rest = () => posix.join(next, ...pending);
    let info: Awaited<ReturnType<HostFs['lstat']>>;
    try {
      info = await fs.lstat(next);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      if (code === 'ENOENT' || code === 'ENOTDIR') return { path: rest() };
      return { path: rest(), error: code };
    }
    if (!info.isSymbolicLink()) {
      done = next;
      continue;
    }
    if (++links > MAX_LINKS) return { path: rest(), error: 'ELOOP' };
    let target: string;
    try {
      target = await fs.readlink(next);
    } catch (error) {
      return { path: rest(), error: (error as NodeJS.ErrnoException).code ?? 'error' };
    }
    if (target.startsWith('/')) done = '/';
    pending = [...components(target), ...pending];
  }
  return { path: done };
}

interface SocketFinding {
  runtime: string;
  /** The path is the socket itself (else a folder that holds one, or a process's root). */
  exact: boolean;
}

/** Device and inode of each known socket present on this host, for sockets linked elsewhere. */
async function knownSocketFiles(fs: HostFs): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const uids = await fs.readdir('/run/user').catch(() => [] as string[]);
  const paths = RUNTIME_SOCKETS.flatMap(({ runtime, path }) => {
    if (path.includes('/run/user/*/')) return uids.map((uid) => ({ runtime, path: path.replace('/run/user/*/', `/run/user/${uid}/`) }));
    return path.includes('*') ? [] : [{ runtime, path }];
  });
  for (const { runtime, path } of paths) {
    const info = await fs.lstat(path).catch(() => undefined);
    if (info?.isSocket()) found.set(`${info.dev}:${info.ino}`, runtime);
  }
  return found;
}

async function socketAt(path: string, fs: HostFs): Promise<SocketFinding | undefined> {
  for (const pattern of PROCESS_ROOTS) {
    if (atOrAbove(path, pattern) && components(path).length >= 2) return { runtime: 'process root', exact: false };
    if (atOrBelow(path, pattern)) return { runtime: 'process root', exact: false };
  }
  if (path === '/proc') return { runtime: 'process root', exact: false };
  for (const { runtime, path: pattern } of RUNTIME_SOCKETS) {
    if (atOrAbove(path, pattern)) return { runtime, exact: components(path).length === components(pattern).length };
  }
  const info = await fs.lstat(path).catch(() => undefined);
  if (info?.isSocket()) {
    const named = SOCKET_NAMES[posix.basename(path)];
    if (named) return { runtime: named, exact: true };
    const known = (await knownSocketFiles(fs)).get(`${info.dev}:${info.ino}`);
    return known ? { runtime: known, exact: true } : undefined;
  }
  // A folder with a runtime's socket right inside it (a rootless engine's run folder moved).
  for (const name of await fs.readdir(path).catch(() => [] as string[])) {
    const runtime = SOCKET_NAMES[name];
    if (runtime && (await fs.lstat(posix.join(path, name)).catch(() => undefined))?.isSocket()) return { runtime, exact: false };
  }
  return undefined;
}

function refused(what: string, setting: string): string {
  return `${what} is refused by host policy; set ${setting} ${SETTING_HINT}`;
}

function describeSocket(finding: SocketFinding, written: string, resolved: string): string {
  const via = resolved === written ? '' : `, which resolves to ${resolved}`;
  if (finding.runtime === 'process root') return `mounting host path ${written}${via}, a process's view of the host's files that reaches the container runtime's socket,`;
  if (finding.exact) return resolved === written ? `mounting the ${finding.runtime} socket (${written})` : `mounting ${written}, which resolves to the ${finding.runtime} socket (${resolved}),`;
  return `mounting host path ${written}${via}, which holds the ${finding.runtime} socket,`;
}

/**
 * Why the host policy refuses to bind-mount host path `source`, or undefined when it allows it.
 * Both the path as written and where it leads must pass: no runtime socket (unless
 * `allow_docker_socket`, and then only the socket itself), and inside a `bind_roots` folder
 * (itself resolved, so a root that is a link works).
 */
export async function hostPathRefusal(source: string, policy: HostPolicy, fs: HostFs = nodeFs): Promise<string | undefined> {
  const written = posix.normalize(source).replace(/(.)\/+$/, '$1');
  const { path: resolved, error } = await resolveHostPath(written, fs);
  const asWritten = await socketAt(written, fs);
  const socket = asWritten ?? (await socketAt(resolved, fs));
  if (socket) {
    // A known socket path is named as written (`/var/run/docker.sock`, not the `/run/…` it leads to).
    if (!policy.allowDockerSocket) return refused(describeSocket(socket, written, asWritten ? written : resolved), 'allow_docker_socket: true');
    if (socket.exact && !error) return undefined;
  }
  if (error) return `host path ${written} cannot be resolved on this host (${error} at ${resolved}), so the host policy cannot allow it`;
  const roots = await Promise.all(policy.bindRoots.map(async (root) => ({ written: root, resolved: (await resolveHostPath(root, fs)).path })));
  const inside = roots.some((root) => isUnder(written, root.written) && isUnder(resolved, root.resolved));
  if (inside) return undefined;
  const writtenInside = roots.some((root) => isUnder(written, root.written));
  const shown = writtenInside ? resolved : written;
  const parent = posix.dirname(shown);
  const what = writtenInside ? `mounting host path ${written}, which resolves to ${resolved} outside bind_roots,` : `mounting host path ${written}`;
  return refused(what, `bind_roots: [${parent === '/' ? shown : parent}] (folders under which host paths may be mounted)`);
}

/** `/etc/localtime` and `/etc/timezone` read-only: allowed on every host (policy/schema.ts). */
function readOnlyHostFile(mount: MountSpec): boolean {
  return mount.type === 'bind' && mount.readOnly === true && READ_ONLY_HOST_FILES.includes(posix.normalize(mount.source));
}

/** The refusals of a service's host bind mounts; `mountIndexes[i]` is where mount i is written. */
export async function hostPathRefusals(mounts: MountSpec[], policy: HostPolicy, mountIndexes: number[], fs: HostFs = nodeFs): Promise<{ key: (string | number)[]; message: string }[]> {
  const refusals: { key: (string | number)[]; message: string }[] = [];
  for (const [index, mount] of mounts.entries()) {
    if (mount.type !== 'bind' || mount.repo || readOnlyHostFile(mount)) continue;
    const message = await hostPathRefusal(mount.source, policy, fs);
    if (message) refusals.push({ key: ['volumes', mountIndexes[index] ?? index], message });
  }
  return refusals;
}

/** Checks host paths right before a container is created; see execute.ts. */
export interface HostPathCheck {
  /**
   * Throws POLICY_REFUSED (transient: the host changed since the load, nothing is created) when
   * a host bind mount is refused now; else returns the mounts with each host source resolved,
   * so the engine is handed the path that was checked.
   */
  resolveMounts(mounts: MountSpec[], where: string): Promise<MountSpec[]>;
}

export function createHostPathCheck(policy: () => Promise<HostPolicy>, fs: HostFs = nodeFs): HostPathCheck {
  return {
    async resolveMounts(mounts, where) {
      const current = await policy();
      const result: MountSpec[] = [];
      for (const mount of mounts) {
        if (mount.type !== 'bind' || mount.repo || readOnlyHostFile(mount)) {
          result.push(mount);
          continue;
        }
        const message = await hostPathRefusal(mount.source, current, fs);
        if (message) throw new CapstanError('POLICY_REFUSED', 'transient', `${where}: ${message}`, { source: mount.source });
        result.push({ ...mount, source: (await resolveHostPath(mount.source, fs)).path });
      }
      return result;
    },
  };
}
