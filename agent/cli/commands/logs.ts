import { Command } from 'commander';
import type Docker from 'dockerode';
import { connectDocker } from '../../docker.js';
import { CapstanError } from '../../errors.js';
import { LABEL, isOwnedBy, ownerLabels } from '../../labels.js';
import { FrameReader, LineSplitter, type LogStream } from '../../output/frames.js';
import { resolveConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { TARGETS } from '../../targets/index.js';

// `capstan logs APP[/SERVICE]`: what the current replicas print, read through the Docker API
// (no port, like everything Capstan does), each line prefixed with its container's name as
// `docker compose logs` does. A container's stdout goes to stdout, its stderr to stderr.

const MAX_TAIL = 100_000;

export function logsCommand(): Command {
  return withConfigOptions(new Command('logs'))
    .description('output of the current replicas of APP or APP/SERVICE on this node, through Docker')
    .argument('<target>', 'APP or APP/SERVICE')
    .option('--tail <n>', 'lines from the end of each replica\'s output, or `all`', '100')
    .option('-f, --follow', 'keep printing new output until interrupted or the replicas stop')
    .option('-t, --timestamps', 'prefix each line with Docker\'s timestamp')
    .action(async (target: string, options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options), process.env, process.cwd(), { requireRepo: false });
      const { app, service } = parseTarget(target);
      const tail = parseTail(String(options.tail));
      const elsewhere = TARGETS[config.target].logsElsewhere;
      if (elsewhere !== undefined) throw new CapstanError('UNSUPPORTED', 'terminal', `capstan logs reads containers on this engine; ${elsewhere}`);
      const docker = connectDocker();
      const replicas = await currentReplicas(docker, config.node, app, service);
      if (replicas.length === 0) {
        throw new CapstanError('NOT_FOUND', 'terminal', `no replica of ${target} on node ${config.node} (capstan status lists the services)`);
      }
      const width = Math.max(...replicas.map((replica) => replica.name.length));
      // Docker's own default is every line: `all` is the option left out.
      const logOptions = { stdout: true, stderr: true, timestamps: Boolean(options.timestamps), ...(tail === 'all' ? {} : { tail }) };
      const print = (name: string, stream: LogStream, line: string) => {
        (stream === 'stderr' ? process.stderr : process.stdout).write(`${name.padEnd(width)} | ${line}\n`);
      };
      if (!options.follow) {
        for (const replica of replicas) {
          const buffer = await docker.getContainer(replica.id).logs({ ...logOptions, follow: false });
          const reader = new ReplicaLines(replica, print);
          reader.push(Buffer.isBuffer(buffer) ? buffer : Buffer.from(String(buffer)));
          reader.end();
        }
        return;
      }
      await Promise.all(replicas.map((replica) => follow(docker, replica, logOptions, print)));
    });
}

interface Replica {
  id: string;
  name: string;
  tty: boolean;
}

async function currentReplicas(docker: Docker, node: string, app: string, service: string | undefined): Promise<Replica[]> {
  const labels = { ...ownerLabels(node), [LABEL.app]: app, ...(service === undefined ? {} : { [LABEL.service]: service }) };
  const listed = await docker.listContainers({ all: true, filters: { label: Object.entries(labels).map(([key, value]) => `${key}=${value}`) } });
  const owned = listed.filter((info) => isOwnedBy(info.Labels, node)).sort((a, b) => (a.Names[0] ?? '').localeCompare(b.Names[0] ?? ''));
  return Promise.all(
    owned.map(async (info) => {
      const inspected = await docker.getContainer(info.Id).inspect();
      return { id: info.Id, name: (info.Names[0] ?? info.Id).replace(/^\//, ''), tty: Boolean(inspected.Config?.Tty) };
    }),
  );
}

async function follow(
  docker: Docker,
  replica: Replica,
  logOptions: { stdout: boolean; stderr: boolean; tail?: number; timestamps: boolean },
  print: (name: string, stream: LogStream, line: string) => void,
): Promise<void> {
  const stream = await docker.getContainer(replica.id).logs({ ...logOptions, follow: true });
  const reader = new ReplicaLines(replica, print);
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => reader.push(chunk));
    stream.on('end', () => {
      reader.end();
      resolve();
    });
    stream.on('error', reject);
  });
}

/** One replica's log bytes → whole lines per stream (a TTY container has one stream). */
class ReplicaLines {
  private readonly frames = new FrameReader();
  private readonly splitters = { stdout: new LineSplitter(), stderr: new LineSplitter() };

  constructor(
    private readonly replica: Replica,
    private readonly print: (name: string, stream: LogStream, line: string) => void,
  ) {}

  push(chunk: Buffer): void {
    const pieces = this.replica.tty ? [{ stream: 'stdout' as const, data: chunk }] : this.frames.push(chunk);
    for (const piece of pieces) for (const line of this.splitters[piece.stream].push(piece.data.toString('utf8'))) this.print(this.replica.name, piece.stream, line);
  }

  end(): void {
    for (const name of ['stdout', 'stderr'] as const) for (const line of this.splitters[name].end()) this.print(this.replica.name, name, line);
  }
}

/** `APP` or `APP/SERVICE`, each a name Capstan accepts in manifests. */
export function parseTarget(text: string): { app: string; service?: string } {
  const match = /^([a-z0-9][a-z0-9_-]*)(?:\/([a-z0-9][a-z0-9_.-]*))?$/i.exec(text);
  if (!match) throw new CapstanError('CONFIG_INVALID', 'terminal', `'${text.slice(0, 80)}' is not APP or APP/SERVICE`);
  return match[2] === undefined ? { app: match[1] } : { app: match[1], service: match[2] };
}

export function parseTail(text: string): number | 'all' {
  if (text === 'all') return 'all';
  if (!/^[0-9]{1,6}$/.test(text) || Number(text) > MAX_TAIL) {
    throw new CapstanError('CONFIG_INVALID', 'terminal', `invalid --tail '${text.slice(0, 20)}': a number of lines from 0 to ${MAX_TAIL}, or all`);
  }
  return Number(text);
}
