// The volume's data as restic reads and writes it: the engine's folder for the volume
// (`docker volume inspect` → Mountpoint), read from the host. An agent in a container must see
// that folder at the same path (examples/container: `-v /var/lib/docker/volumes:/var/lib/docker/volumes`);
// a remote or rootless engine whose folders this host cannot see is refused by name.
// Also the services around a snapshot: stopped, or asked to dump first (`pre_snapshot`).
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { CapstanError } from '../errors.js';
import { LABEL } from '../labels.js';
import { lastLines } from '../output/bounded.js';

/** The folder holding a volume's files on this host; VOLUME_NOT_REACHABLE when the agent cannot see it. */
export async function mountpointOf(docker: Docker, dockerName: string): Promise<string> {
  const info = (await docker.getVolume(dockerName).inspect()) as { Mountpoint?: string; Driver?: string };
  const mountpoint = info.Mountpoint;
  const reachable = mountpoint ? await stat(mountpoint).then((entry) => entry.isDirectory(), () => false) : false;
  if (!mountpoint || !reachable || info.Driver !== 'local') {
    throw new CapstanError(
      'VOLUME_NOT_REACHABLE',
      'terminal',
      `volume ${dockerName}: its folder ${mountpoint ?? '(none)'} (driver ${info.Driver ?? '?'}) is not visible to the agent; snapshots need the local driver and, for an agent in a container, the engine's volumes folder mounted at the same path`,
      { volume: dockerName },
    );
  }
  return mountpoint;
}

/** Empties a volume's folder (not the folder itself, which the engine owns) before a restore. */
export async function emptyFolder(folder: string): Promise<void> {
  for (const entry of await readdir(folder)) await rm(join(folder, entry), { recursive: true, force: true });
}

/** This node's Capstan containers mounting the volume, running or not. */
export async function containersMounting(docker: Docker, node: string, dockerName: string): Promise<{ id: string; name: string; running: boolean; service: string }[]> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL.managed}=true`, `${LABEL.node}=${node}`], volume: [dockerName] },
  });
  return list
    .filter((container) => (container.Mounts ?? []).some((mount) => mount.Type === 'volume' && mount.Name === dockerName))
    .map((container) => ({ id: container.Id, name: (container.Names?.[0] ?? container.Id).replace(/^\//, ''), running: container.State === 'running', service: container.Labels?.[LABEL.service] ?? '' }))
    .sort((left, right) => (left.name < right.name ? -1 : 1));
}

/** Stops the running containers mounting the volume; returns those it stopped (to start them again). */
export async function stopMounting(docker: Docker, node: string, dockerName: string): Promise<string[]> {
  const stopped: string[] = [];
  for (const container of await containersMounting(docker, node, dockerName)) {
    if (!container.running) continue;
    await docker.getContainer(container.id).stop().catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 304) throw error;
    });
    stopped.push(container.name);
  }
  return stopped;
}

export async function startContainers(docker: Docker, names: string[]): Promise<void> {
  for (const name of names) {
    await docker.getContainer(name).start().catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 304) throw error;
    });
  }
}

/**
 * Runs `pre_snapshot` in the first running replica mounting the volume and waits for it; a
 * non-zero exit is PRE_SNAPSHOT_FAILED with the command's last output. No running replica: the
 * data is at rest, nothing to run.
 */
export async function runPreSnapshot(docker: Docker, node: string, dockerName: string, command: string[], redact: (text: string) => string): Promise<string | undefined> {
  const running = (await containersMounting(docker, node, dockerName)).find((container) => container.running);
  if (!running) return undefined;
  const exec = await docker.getContainer(running.id).exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  let kept = 0;
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      kept += chunk.length;
      if (kept <= 1024 * 1024) chunks.push(chunk);
    });
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  const info = await exec.inspect();
  if (info.ExitCode !== 0) {
    const output = redact(lastLines(demux(Buffer.concat(chunks)), 20, 4096));
    throw new CapstanError('PRE_SNAPSHOT_FAILED', 'transient', `pre_snapshot in ${running.name} exited with ${info.ExitCode ?? '?'}${output ? `: ${output}` : ''}`, { container: running.name });
  }
  return running.name;
}

/** Docker's multiplexed exec stream (8-byte frame headers) → text. */
function demux(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}
