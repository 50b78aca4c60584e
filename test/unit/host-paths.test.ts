import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CapstanError, formatProblem } from '../../agent/errors.js';
import { validateDir } from '../../agent/load/index.js';
import { createHostPathCheck, DEFAULT_POLICY, type HostPolicy } from '../../agent/policy/index.js';

// Issue 21, hole 3: `bind_roots` was a text prefix check. A link under an allowed root
// (`root -> /`) admitted /etc, and runtime sockets other than Docker's two paths were not
// recognised. Host paths are now judged where they lead on this host, at load and again right
// before a container is created. These tests use the host's real file system.

describe('host paths: resolved on the host, runtime sockets refused', () => {
  let dir: string;
  let manifests: string;
  let server: Server;

  before(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'capstan-host-paths-')));
    manifests = join(dir, 'repo');
    await mkdir(manifests);
    await mkdir(join(dir, 'host', 'data'), { recursive: true });
    await mkdir(join(dir, 'real'));
    await symlink('/', join(dir, 'host', 'root'));
    await symlink('/var/run/docker.sock', join(dir, 'host', 'sock'));
    await symlink('/proc/1/root', join(dir, 'host', 'init'));
    await symlink(join(dir, 'real'), join(dir, 'rootlink'));
    // A socket of a runtime moved off its usual place keeps its name.
    await mkdir(join(dir, 'host', 'engine'));
    server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, 'host', 'engine', 'docker.sock'), resolve));
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  /** The problems of one manifest mounting each source, by source. */
  async function refusals(sources: string[], policy: HostPolicy): Promise<Map<string, string>> {
    const volumes = sources.map((source, index) => `"${source}:/m${index}"`).join(', ');
    await writeFile(join(manifests, 'a.yaml'), `app: a\nservices:\n  web:\n    image: x\n    volumes: [${volumes}]\n`);
    const result = await validateDir({ root: manifests, commit: '', hashKey: new Uint8Array(), policy });
    const byIndex = new Map<string, string>();
    for (const problem of result.problems.filter((found) => found.code !== 'POLICY_SNIPPET')) {
      const index = Number(/volumes\[(\d+)\]/.exec(problem.key)?.[1]);
      assert.equal(problem.code, 'POLICY_REFUSED', formatProblem(problem));
      assert.equal(problem.file, 'a.yaml');
      assert.equal(problem.line, 5);
      byIndex.set(sources[index], problem.message);
    }
    return byIndex;
  }

  it('a link under a bind root does not admit what it points to', async () => {
    const policy = { ...DEFAULT_POLICY, bindRoots: [join(dir, 'host')] };
    const found = await refusals([`${dir}/host/root/etc`, `${dir}/host/init/etc`, `${dir}/host/data`, `${dir}/host/data/not-yet`], policy);
    assert.match(found.get(`${dir}/host/root/etc`) ?? '', /host path .*\/host\/root\/etc, which resolves to \/etc outside bind_roots, is refused by host policy; set bind_roots: \[\/etc\]/);
    // /proc/1/root: unreadable in a container (refused as a process root), or `/` on a host.
    assert.match(found.get(`${dir}/host/init/etc`) ?? '', /which resolves to \/(etc outside bind_roots|proc\/1\/root\/etc, a process's view)/);
    assert.equal(found.size, 2, [...found.values()].join('\n'));
  });

  it('every container runtime socket is refused, however it is reached', async () => {
    // The broadest bind_roots: only the socket rule stands between a manifest and the sockets.
    const policy = { ...DEFAULT_POLICY, bindRoots: ['/'] };
    const sockets = [
      '/var/run/docker.sock',
      '/run/user/1000/docker.sock',
      '/run/containerd/containerd.sock',
      '/var/run/crio/crio.sock',
      '/run/podman/podman.sock',
      '/run/user/1000/podman/podman.sock',
      '/run/buildkit/buildkitd.sock',
      '/proc/1/root/var/run/docker.sock',
      '/proc/self/root',
      '/proc/1',
      '/run/user',
      '/run',
      '/',
      `${dir}/host/sock`,
      `${dir}/host/root/run/docker.sock`,
      `${dir}/host/engine/docker.sock`,
      `${dir}/host/engine`,
    ];
    const found = await refusals([...sockets, `${dir}/host/data`], policy);
    for (const source of sockets) {
      assert.match(found.get(source) ?? 'not refused', /is refused by host policy; set allow_docker_socket: true/, source);
    }
    assert.equal(found.size, sockets.length, 'a plain folder is allowed');
    assert.deepEqual(await refusals(['/proc/sys/kernel', '/sys/fs/cgroup'], policy), new Map(), 'other parts of /proc and /sys are no way to the sockets');
    assert.match(found.get(`${dir}/host/sock`)!, /host\/sock, which resolves to the Docker socket \(\/(var\/)?run\/docker\.sock\)/);
    assert.match(found.get('/run/containerd/containerd.sock')!, /mounting the containerd socket/);
  });

  it('allow_docker_socket allows a socket itself, not the folders that hold one; roots that are links work', async () => {
    const policy = { ...DEFAULT_POLICY, allowDockerSocket: true, bindRoots: [join(dir, 'rootlink')] };
    await mkdir(join(dir, 'real', 'data'), { recursive: true });
    const found = await refusals(['/run/containerd/containerd.sock', `${dir}/host/sock`, `${dir}/rootlink/data`, '/run'], policy);
    assert.deepEqual([...found.keys()], ['/run']);
    assert.match(found.get('/run')!, /set bind_roots: \[\/run\]/);
  });

  it('checks again right before a container is created, handing the engine the resolved path', async () => {
    const policy = { ...DEFAULT_POLICY, bindRoots: [join(dir, 'host')] };
    const check = createHostPathCheck(async () => policy);
    const swapped = join(dir, 'host', 'swapped');
    await mkdir(swapped);
    const mount = { type: 'bind' as const, source: swapped, target: '/data', readOnly: false };
    assert.deepEqual(await check.resolveMounts([mount], 'a/web'), [mount]);
    // A container with the folder mounted read-write replaces it by a link to /.
    await rm(swapped, { recursive: true });
    await symlink('/etc', swapped);
    await assert.rejects(check.resolveMounts([mount], 'a/web'), (error: unknown) => {
      assert.ok(error instanceof CapstanError && error.code === 'POLICY_REFUSED', String(error));
      assert.match(error.message, /^a\/web: mounting host path .*\/host\/swapped, which resolves to \/etc outside bind_roots/);
      return true;
    });
    const viaRootlink = { ...mount, source: join(dir, 'rootlink') };
    const allowing = createHostPathCheck(async () => ({ ...DEFAULT_POLICY, bindRoots: [join(dir, 'rootlink')] }));
    assert.deepEqual(await allowing.resolveMounts([viaRootlink], 'a/web'), [{ ...viaRootlink, source: join(dir, 'real') }]);
  });
});
