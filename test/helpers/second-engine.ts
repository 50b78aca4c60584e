// A second Docker engine on this machine, for fleet tests: its own socket, data root, exec root,
// containerd namespace and default bridge. (Not `--bridge none`: a dockerd started that way
// deletes the host's docker0, which the first engine's default network still uses.) The engines do not see each other's
// networks, so engine 2 draws its subnets from the far end of 192.168.0.0/16, which engine 1
// (pools 172.17–31.0.0/16, then 192.168.0.0/20 upwards) reaches only with ~30 networks at once.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { docker as firstEngine, TEST_IMAGE, waitFor } from './docker.js';

export interface SecondEngine {
  /** For DOCKER_HOST. */
  host: string;
  docker: Docker;
  stop(): Promise<void>;
}

export async function startSecondEngine(): Promise<SecondEngine> {
  // Short: the socket path must fit in 108 bytes.
  const dir = mkdtempSync('/tmp/capstan-d2-');
  const socket = join(dir, 'docker.sock');
  const log = openSync(join(dir, 'dockerd.log'), 'a');
  // Interface names are at most 15 characters.
  const bridge = `capd2-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
  execFileSync('ip', ['addr', 'add', '192.168.250.1/24', 'dev', bridge]);
  execFileSync('ip', ['link', 'set', bridge, 'up']);
  const child: ChildProcess = spawn(
    'dockerd',
    [
      '--host', `unix://${socket}`,
      '--data-root', join(dir, 'data'),
      '--exec-root', join(dir, 'exec'),
      '--pidfile', join(dir, 'docker.pid'),
      '--containerd-namespace', 'capstan-d2',
      '--containerd-plugins-namespace', 'capstan-d2-plugins',
      '--bridge', bridge,
      '--iptables=false',
      '--ip-masq=false',
      '--default-address-pool', 'base=192.168.240.0/20,size=24',
    ],
    { stdio: ['ignore', log, log] },
  );
  const docker = new Docker({ socketPath: socket });
  const stop = async () => {
    // A network's bridge outlives the dockerd that made it (its data root is deleted below), and
    // its /24 would then overlap every later second engine's pool: remove what engine 2 made
    // while it answers, and any bridge of its pool still up after it exited.
    const bridges = await removeEngineObjects(docker).catch(() => [] as string[]);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    for (const name of bridges) {
      try {
        execFileSync('ip', ['link', 'delete', name], { stdio: 'ignore' });
      } catch {
        // removed with its network, as it should be
      }
    }
    try {
      execFileSync('ip', ['link', 'delete', bridge]);
    } catch {
      // already gone
    }
  };
  try {
    await waitFor(() => docker.ping().then(() => true), { timeoutMs: 60_000, intervalMs: 250, what: `a second dockerd on ${socket}` });
    // The engines share no images: copy the test image over.
    const image = await firstEngine.getImage(TEST_IMAGE).get();
    const loading = await docker.loadImage(image);
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(loading, (error: Error | null) => (error ? reject(error) : resolve())));
  } catch (error) {
    await stop();
    throw error;
  }
  return { host: `unix://${socket}`, docker, stop };
}

/** Removes engine 2's containers and networks; returns the networks' bridge names. */
async function removeEngineObjects(docker: Docker): Promise<string[]> {
  for (const container of await docker.listContainers({ all: true })) await docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined);
  const bridges: string[] = [];
  for (const network of await docker.listNetworks()) {
    if (['bridge', 'host', 'none'].includes(network.Name)) continue;
    bridges.push(network.Options?.['com.docker.network.bridge.name'] ?? `br-${network.Id.slice(0, 12)}`);
    await docker.getNetwork(network.Id).remove().catch(() => undefined);
  }
  return bridges;
}
