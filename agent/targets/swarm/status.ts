import type Docker from 'dockerode';
import { LABEL } from '../../labels.js';

// `capstan status` on a Swarm manager: each running task of this node's services, in the shape
// status reads containers in, so the same READY and HEALTH columns mean the same thing.

export interface TaskRow {
  app: string;
  service: string;
  state: 'running' | 'created';
  configHash: string;
  health: 'starting' | 'healthy' | null;
}

interface RawTask {
  ServiceID?: string;
  Status?: { State?: string };
  Spec?: { ContainerSpec?: { Labels?: Record<string, string>; Healthcheck?: { Test?: string[] } } };
}

export async function swarmStatusRows(docker: Docker, node: string): Promise<{ containers: TaskRow[] }> {
  const services = (await docker.listServices({ filters: { label: [`${LABEL.managed}=true`, `${LABEL.node}=${node}`] } })) as Docker.Service[];
  const owned = new Set(services.map((service) => service.ID));
  const tasks = (await docker.listTasks({ filters: { 'desired-state': ['running'] } })) as RawTask[];
  return {
    containers: tasks
      .filter((task) => owned.has(task.ServiceID ?? ''))
      .map((task) => {
        const labels = task.Spec?.ContainerSpec?.Labels ?? {};
        const checked = (task.Spec?.ContainerSpec?.Healthcheck?.Test ?? ['NONE'])[0] !== 'NONE';
        // Swarm holds a task in `starting` until its health check passes, then calls it `running`.
        const state = task.Status?.State;
        return {
          app: labels[LABEL.app] ?? '',
          service: labels[LABEL.service] ?? '',
          state: state === 'running' || (state === 'starting' && checked) ? ('running' as const) : ('created' as const),
          configHash: labels[LABEL.configHash] ?? '',
          health: state === 'starting' && checked ? ('starting' as const) : state === 'running' && checked ? ('healthy' as const) : null,
        };
      }),
  };
}
