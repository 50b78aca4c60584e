import { readFileSync } from 'node:fs';
import os from 'node:os';
import { docker } from './docker-cleanup.js';
import type { ComposeTool } from './compose.js';
import { timed } from './timed-process.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  os: string;
  node: string;
  dockerEngine: string;
  dockerApi: string;
  storageDriver: string;
  cgroup: string;
  compose: string;
  git: string;
  /** Containers on the engine at the start that are not the bench's (other people's tests). */
  foreignContainers: number;
}

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os.type();
  } catch {
    return os.type();
  }
}

export async function describeMachine(compose: ComposeTool): Promise<MachineInfo> {
  const [info, version, containers, gitVersion] = await Promise.all([
    docker.info() as Promise<{ Driver?: string; CgroupVersion?: string; CgroupDriver?: string }>,
    docker.version(),
    docker.listContainers({ all: true }),
    timed('git', ['--version']),
  ]);
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    os: osName(),
    node: process.version,
    dockerEngine: version.Version,
    dockerApi: version.ApiVersion,
    storageDriver: info.Driver ?? 'unknown',
    cgroup: `v${info.CgroupVersion ?? '?'} (${info.CgroupDriver ?? '?'})`,
    compose: `${compose.command}${compose.prefixArgs.length ? ` ${compose.prefixArgs.join(' ')}` : ''} ${compose.version}`,
    git: gitVersion.stdout.trim(),
    foreignContainers: containers.length,
  };
}
