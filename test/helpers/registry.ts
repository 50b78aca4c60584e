// A real registry for tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1, which
// Docker treats as an insecure registry by default. Optional htpasswd auth.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { docker, testLabels, waitFor } from './docker.js';
import { tempDir, type TempDir } from './paths.js';

export interface Registry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** Stops the registry; `start()` brings it back on the same port with the same storage. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * Builds a distinct small image from the test image, pushes it as `host/name:tag`, removes it
   * locally. `changes` are Dockerfile instructions applied on commit (`ENTRYPOINT ["false"]`).
   */
  pushImage(name: string, tag: string, changes?: string[]): Promise<string>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startRegistry(options: { user?: string; password?: string } = {}): Promise<Registry> {
  const dir: TempDir = await tempDir('capstan-registry');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let auth = '';
  if (options.user && options.password) {
    const htpasswd = join(dir.path, 'htpasswd');
    execFileSync('htpasswd', ['-Bbc', htpasswd, options.user, options.password], { stdio: 'ignore' });
    auth = `auth:\n  htpasswd:\n    realm: capstan-test\n    path: ${htpasswd}\n`;
  }
  const config = join(dir.path, 'config.yml');
  await fsp.writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir.path, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: ${host}\n${auth}`,
  );
  let child: ChildProcess | undefined;
  const credentials = options.user ? { username: options.user, password: options.password, serveraddress: host } : undefined;

  const start = async () => {
    child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
    await waitFor(
      async () => {
        const response = await fetch(`http://${host}/v2/`).catch(() => undefined);
        return response !== undefined && (response.status === 200 || response.status === 401);
      },
      { timeoutMs: 20_000, intervalMs: 100, what: `docker-registry on ${host}` },
    );
  };
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  await start();

  return {
    host,
    start,
    stop,
    close: async () => {
      await stop();
      await dir.cleanup();
    },
    pushImage: async (name, tag, changes = []) => {
      const reference = `${host}/${name}:${tag}`;
      // A container committed with its own label makes an image with its own id.
      const container = await docker.createContainer({ Image: 'local/busybox:1', Cmd: ['true'], Labels: testLabels() });
      try {
        await container.commit({ repo: `${host}/${name}`, tag, changes: [`LABEL capstan.test.image=${name}-${tag}-${Date.now()}`, ...changes] });
      } finally {
        await container.remove({ force: true });
      }
      // Engine 20.10 refuses a push without an X-Registry-Auth header, even an empty one.
      const stream = await docker.getImage(reference).push({ authconfig: credentials ?? {} });
      await new Promise<void>((resolve, reject) =>
        docker.modem.followProgress(stream, (error: Error | null, events: { error?: string }[]) => {
          const failed = events?.find((event) => event.error);
          if (error || failed) reject(error ?? new Error(failed!.error));
          else resolve();
        }),
      );
      await docker.getImage(reference).remove();
      return reference;
    },
  };
}
