import { Command } from 'commander';
import { systemClock } from '../../clock.js';
import { connectDocker } from '../../docker.js';
import { CapstanError } from '../../errors.js';
import { createLogger } from '../../log.js';
import { SecretRegistry } from '../../secret-registry.js';
import { acquireCycleLock, lockTimeoutMs } from '../../state/cycle-lock.js';
import { snapshotSize, volumeHistory } from '../../storage/repository.js';
import type { VolumeRow } from '../../storage/store.js';
import { startContainers } from '../../storage/volume-data.js';
import type { VolumeStorage } from '../../storage/volumes.js';
import { resolveConfig, type AgentConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { renderTable } from '../table.js';
import { createVolumeStorage } from '../wiring.js';
import { recordCommand, withOperator } from '../operator.js';
import type { CommandArgs, OperatorCommandName } from '../../control/store.js';

// `capstan volumes`: the snapshot volumes this node holds or waits for (agent/storage), their
// last snapshot read from the repository; `restore` and `takeover` change them, under the
// state dir's cycle lock so no cycle runs meanwhile. `snapshot`, `restore` and `takeover` are
// operator commands: recorded with who ran them and how they ended (`history --commands`).

interface VolumeListing {
  volume: string;
  repository: string;
  state: string;
  lastSnapshot: string | null;
  lastSnapshotAt: string | null;
  ageSeconds: number | null;
  sizeBytes: number | null;
  snapshots: number | null;
  lastError: string | null;
}

export function volumesCommand(): Command {
  const setup = (options: Record<string, unknown>) => {
    const config = resolveConfig(configFlags(options), process.env, process.cwd(), { requireRepo: false });
    const secrets = new SecretRegistry();
    const logger = createLogger({ destination: 2, redact: (line) => secrets.redact(line) });
    return { config, storage: createVolumeStorage(config, connectDocker(), secrets, logger), secrets };
  };
  /** Runs `work` as an operator command: its row says who, when, and `done` or `failed` with why (redacted). */
  const recorded = (options: Record<string, unknown>, secrets: SecretRegistry, name: OperatorCommandName, args: CommandArgs, work: () => Promise<string>) =>
    withOperator(options, async (operator) => {
      const row = await recordCommand(operator, name, args, false);
      try {
        const message = await work();
        operator.control.finishCycleRequests([row.id], { cycleId: null, result: 'done', message });
      } catch (error) {
        operator.control.finishCycleRequests([row.id], { cycleId: null, result: 'failed', message: secrets.redact((error as Error).message).slice(0, 2000) });
        throw error;
      }
    });
  const command = withConfigOptions(new Command('volumes'))
    .description('snapshot volumes on this node: last snapshot, its size and age, repository, lease state')
    .option('--json', 'print JSON')
    .action(async (options: Record<string, unknown>) => {
      const { storage, config } = setup(options);
      const rows = storage.deps.store.rows(config.node);
      const listing: VolumeListing[] = [];
      for (const row of rows) listing.push(await describe(storage, row));
      if (options.json) {
        process.stdout.write(`${JSON.stringify(listing, null, 2)}\n`);
        return;
      }
      if (listing.length === 0) {
        process.stdout.write('no volume with snapshot: on this node\n');
        return;
      }
      process.stdout.write(
        renderTable(
          ['VOLUME', 'REPOSITORY', 'STATE', 'LAST SNAPSHOT', 'AGE', 'SIZE', 'SNAPSHOTS', 'LAST ERROR'],
          listing.map((item) => [
            item.volume,
            item.repository,
            item.state,
            item.lastSnapshot ? `${item.lastSnapshot.slice(0, 8)} ${item.lastSnapshotAt ?? ''}` : '-',
            item.ageSeconds === null ? '-' : age(item.ageSeconds),
            item.sizeBytes === null ? '-' : bytes(item.sizeBytes),
            item.snapshots === null ? '-' : String(item.snapshots),
            item.lastError ?? '',
          ]),
        ),
      );
    });

  command.addCommand(
    withConfigOptions(new Command('snapshot'))
      .argument('<app/volume>')
      .description('take a snapshot now (as its schedule would), with its retention')
      .option('--lock-timeout <duration>', 'how long to wait for a cycle in flight (default 10m)')
      .action(async (target: string, options: Record<string, unknown>) => {
        const { storage, config, secrets } = setup(options);
        const row = heldRow(storage, config, target);
        await recorded(options, secrets, 'volume-snapshot', { volume: target }, () =>
          underLock(config, options, async () => {
            const spec = await snapshotSpecOf(config, row);
            const taken = await storage.snapshot({ app: row.app, volume: row.volume, dockerName: row.dockerName, snapshot: spec });
            const said = `snapshot ${taken.id.slice(0, 8)} of ${target}: ${taken.bytes} bytes, ${taken.added} new, ${taken.seconds.toFixed(1)} s`;
            process.stdout.write(`${said}\n`);
            return said;
          }),
        );
      }),
  );

  command.addCommand(
    withConfigOptions(new Command('restore'))
      .argument('<app/volume>')
      .description('replace the volume\'s files with a snapshot (the latest by default); the services mounting it are stopped meanwhile')
      .option('--snapshot <id>', 'the snapshot to restore (an id or its prefix, as `capstan volumes --json` or `restic snapshots` show)')
      .option('--lock-timeout <duration>', 'how long to wait for a cycle in flight (default 10m)')
      .action(async (target: string, options: Record<string, unknown>) => {
        const { storage, config, secrets } = setup(options);
        const row = heldRow(storage, config, target);
        const asked = options.snapshot as string | undefined;
        await recorded(options, secrets, 'volume-restore', { volume: target, ...(asked ? { snapshot: asked } : {}) }, () => underLock(config, options, async () => {
          const restic = await storage.resticFor(row.repository);
          const history = await volumeHistory(restic, row);
          const wanted = (options.snapshot as string | undefined) ?? history.data.at(-1)?.id;
          if (!wanted) throw new CapstanError('SNAPSHOT_UNKNOWN', 'terminal', `${target} has no snapshot in repository ${row.repository}`);
          const volume = { app: row.app, volume: row.volume, dockerName: row.dockerName, snapshot: { schedule: '', keep: {}, repository: row.repository, handoffTimeoutMs: 0 } };
          let stopped: string[] = [];
          try {
            stopped = await storage.restore(volume, wanted);
          } catch (error) {
            storage.deps.events?.failed({ app: row.app, volume: row.volume, reason: (error as CapstanError).code ?? 'RESTORE_FAILED', message: `restore of ${target} failed: ${(error as Error).message}` });
            throw error;
          }
          await startContainers(storage.deps.docker, stopped);
          const said = `restored ${target} from snapshot ${wanted.slice(0, 8)}${stopped.length ? `; restarted ${stopped.join(', ')}` : ''}`;
          process.stdout.write(`${said}\n`);
          return said;
        }));
      }),
  );

  command.addCommand(
    withConfigOptions(new Command('takeover'))
      .argument('<app/volume>')
      .description('after the hand-off timeout, when the node that held the volume is gone: close its lease so this node restores the latest snapshot and starts the service')
      .option('--repository <name>', 'the repository, when this node has not waited for the volume yet')
      .option('--force', 'take over before this node\'s hand-off timeout has passed')
      .option('--lock-timeout <duration>', 'how long to wait for a cycle in flight (default 10m)')
      .action(async (target: string, options: Record<string, unknown>) => {
        const { storage, config, secrets } = setup(options);
        const [app, volume] = split(target);
        const row = storage.deps.store.row(config.node, app, volume);
        const repository = (options.repository as string | undefined) ?? row?.repository;
        if (!repository) throw new CapstanError('VOLUME_UNKNOWN', 'terminal', `this node has not waited for ${target}; give --repository NAME (and --force)`);
        const timedOut = row?.state === 'waiting' && (row.lastError ?? '').startsWith('VOLUME_HANDOFF_TIMEOUT');
        if (!timedOut && !options.force) {
          throw new CapstanError('TAKEOVER_REFUSED', 'terminal', `${target}: this node's hand-off timeout has not passed (the old node may still hand it off); wait for VOLUME_HANDOFF_TIMEOUT in \`capstan status\`, or give --force if the old node is gone for good`);
        }
        await recorded(options, secrets, 'volume-takeover', { volume: target, ...(options.force ? { force: true } : {}) }, () =>
          underLock(config, options, async () => {
            const holders = await storage.takeover({ app, volume }, repository);
            const said = `took over ${target} from ${holders.length ? holders.join(', ') : 'no holder'}; the next cycle restores the latest snapshot and starts the service here`;
            process.stdout.write(`${said}\n`);
            return said;
          }),
        );
      }),
  );
  return command;
}

async function describe(storage: VolumeStorage, row: VolumeRow): Promise<VolumeListing> {
  const listing: VolumeListing = {
    volume: `${row.app}/${row.volume}`,
    repository: row.repository,
    state: row.state,
    lastSnapshot: row.lastSnapshotId,
    lastSnapshotAt: row.lastSnapshotAt,
    ageSeconds: null,
    sizeBytes: row.lastSnapshotBytes,
    snapshots: null,
    lastError: row.lastError,
  };
  try {
    const restic = await storage.resticFor(row.repository);
    const history = await volumeHistory(restic, row);
    const last = history.data.at(-1);
    listing.snapshots = history.data.length;
    if (last) {
      listing.lastSnapshot = last.id;
      listing.lastSnapshotAt = last.time;
      listing.sizeBytes = await snapshotSize(restic, last.id);
    }
  } catch (error) {
    listing.lastError = `repository not readable: ${(error as Error).message}`;
  }
  if (listing.lastSnapshotAt) listing.ageSeconds = Math.max(0, Math.round((systemClock.now() - Date.parse(listing.lastSnapshotAt)) / 1000));
  return listing;
}

function split(target: string): [string, string] {
  const [app, volume, ...rest] = target.split('/');
  if (!app || !volume || rest.length > 0) throw new CapstanError('CONFIG_INVALID', 'terminal', `'${target}' is not APP/VOLUME`);
  return [app, volume];
}

function heldRow(storage: VolumeStorage, config: AgentConfig, target: string): VolumeRow {
  const [app, volume] = split(target);
  const row = storage.deps.store.row(config.node, app, volume);
  if (!row || row.state !== 'holding') {
    throw new CapstanError('VOLUME_NOT_HELD', 'terminal', `this node does not hold ${target}${row ? ` (it is ${row.state})` : ' (no snapshot volume of that name has run here)'}`);
  }
  return row;
}

/** The volume's `snapshot:` from the head commit's share for this node. */
async function snapshotSpecOf(config: AgentConfig, row: VolumeRow) {
  const { createReconciler, openStore } = await import('../wiring.js');
  const store = openStore(config);
  try {
    const { desired } = await (await createReconciler(config, store, createLogger({ destination: 2, level: 'silent' }))).desiredShare();
    const spec = desired.apps.find((app) => app.name === row.app)?.volumes.find((volume) => volume.name === row.volume)?.snapshot;
    if (!spec) throw new CapstanError('VOLUME_NOT_HELD', 'terminal', `${row.app}/${row.volume} has no snapshot: in the head commit for this node`);
    return spec;
  } finally {
    store.close();
  }
}

async function underLock<T>(config: AgentConfig, options: Record<string, unknown>, work: () => Promise<T>): Promise<T> {
  const lock = await acquireCycleLock(config.stateDir, 'volumes', lockTimeoutMs(options.lockTimeout as string | undefined, process.env), { clock: systemClock });
  try {
    return await work();
  } finally {
    lock.release();
  }
}

function age(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

function bytes(count: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
