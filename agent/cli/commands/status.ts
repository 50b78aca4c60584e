import { Command } from 'commander';
import { isReadyReplica, observe } from '../../observe/observe.js';
import { swarmTaskRows } from '../../targets/swarm/status.js';
import { resolveConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { renderTable } from '../table.js';
import { connectDocker } from '../../docker.js';
import { openStore } from '../wiring.js';

export interface ServiceStatus {
  app: string;
  service: string;
  desiredReplicas: number;
  runningReplicas: number;
  upToDateReplicas: number;
  /** Running the current config, and healthy when Docker runs a health check. */
  readyReplicas: number;
  /** `healthy`, `2 starting`, `1 unhealthy`…, or `no check`. */
  health: string;
  image: string;
  configHash: string;
  commit: string;
  lastChange: string;
}

export function statusCommand(): Command {
  return withConfigOptions(new Command('status'))
    .description('commit applied, each service\'s state and the last error, from SQLite and Docker')
    .option('--json', 'print JSON')
    .action(async (options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options), process.env, process.cwd(), { requireRepo: false });
      const store = openStore(config);
      try {
        const observed = config.target === 'swarm' ? await swarmTaskRows(connectDocker(), config.node) : await observe(connectDocker(), config.node);
        const services: ServiceStatus[] = store.deployments(config.node).map((deployment) => {
          const containers = observed.containers.filter((container) => container.app === deployment.app && container.service === deployment.service);
          return {
            app: deployment.app,
            service: deployment.service,
            desiredReplicas: deployment.replicas,
            runningReplicas: containers.filter((container) => container.state === 'running').length,
            upToDateReplicas: containers.filter((container) => container.state === 'running' && container.configHash === deployment.configHash).length,
            readyReplicas: containers.filter((container) => isReadyReplica(container, deployment.configHash)).length,
            health: healthSummary(containers.filter((container) => container.state === 'running').map((container) => container.health)),
            image: deployment.image,
            configHash: deployment.configHash.slice(0, 12),
            commit: deployment.commit,
            lastChange: deployment.updatedAt,
          };
        });
        const status = {
          node: config.node,
          target: config.target,
          appliedCommit: store.lastAppliedCommit,
          attemptedCommit: store.lastAttemptedCommit,
          lastError: store.lastError,
          lastCycle: store.cycles(1)[0] ?? null,
          nextCycleAt: store.getMeta('next_cycle_at'),
          quarantined: store.quarantined(config.node),
          /** The last offline bundle imported (`capstan bundle import`, `run --inbox`), if any. */
          lastBundle: parseJson(store.getMeta('bundle_last_imported')) as { commit: string; branch: string; index: string; signer: string; at: string } | null,
          services,
        };
        if (options.json) {
          process.stdout.write(JSON.stringify(status, null, 2) + '\n');
          return;
        }
        const lines = [
          `node:      ${status.node}`,
          `applied:   ${status.appliedCommit?.slice(0, 12) ?? '(none yet)'}`,
          `attempted: ${status.attemptedCommit?.slice(0, 12) ?? '(none yet)'}${
            status.attemptedCommit && status.attemptedCommit !== status.appliedCommit && status.lastError ? ` (not applied: ${status.lastError.code})` : ''
          }`,
        ];
        if (status.lastCycle) lines.push(`last cycle: ${status.lastCycle.result} at ${status.lastCycle.finishedAt ?? status.lastCycle.startedAt}`);
        if (status.nextCycleAt) lines.push(`next cycle: ${status.nextCycleAt}`);
        if (status.lastBundle) lines.push(`last bundle: ${status.lastBundle.commit.slice(0, 12)} imported at ${status.lastBundle.at}, signed by ${status.lastBundle.signer}`);
        for (const entry of status.quarantined) lines.push(`quarantined: ${entry.commit.slice(0, 12)} since ${entry.at}: ${entry.reason}: ${entry.message}`);
        if (status.lastError) lines.push(`last error: [${status.lastError.code}] at ${status.lastError.commit?.slice(0, 12) ?? '-'}:`, indent(status.lastError.message));
        process.stdout.write(lines.join('\n') + '\n\n');
        process.stdout.write(
          renderTable(
            ['APP', 'SERVICE', 'READY', 'HEALTH', 'IMAGE', 'CONFIG', 'LAST CHANGE'],
            services.map((service) => [
              service.app,
              service.service,
              `${service.readyReplicas}/${service.desiredReplicas}`,
              service.health,
              service.image,
              service.configHash,
              service.lastChange,
            ]),
          ),
        );
      } finally {
        store.close();
      }
    });
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => '  ' + line)
    .join('\n');
}

function healthSummary(states: (string | null)[]): string {
  if (states.length === 0) return '-';
  if (states.every((state) => state === null)) return 'no check';
  const counts = new Map<string, number>();
  for (const state of states) counts.set(state ?? 'no check', (counts.get(state ?? 'no check') ?? 0) + 1);
  if (counts.size === 1 && counts.has('healthy')) return 'healthy';
  return [...counts].map(([state, count]) => `${count} ${state}`).join(', ');
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
