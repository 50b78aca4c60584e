import { renderPlan } from '../print.js';
import type { Operation, Plan } from './types.js';

/**
 * The one printer for plans: `capstan plan` shows it and golden tests compare it. It names
 * objects and causes only; no environment value or secret is in a plan, so none can leak here.
 */
export function printPlan(plan: Plan): string {
  return renderPlan(
    `plan for commit ${plan.commit.slice(0, 12)} on node ${plan.node}`,
    plan.problems,
    plan.operations.map((operation) => ({ id: operation.id, text: describe(operation), cause: operation.cause, after: operation.after.join(', ') })),
  );
}

export function describe(operation: Operation): string {
  switch (operation.kind) {
    case 'pull-image':
      return `pull image ${operation.image}${operation.platform === undefined ? '' : ` (${operation.platform})`}`;
    case 'build-image':
      return `build image ${operation.image}`;
    case 'remove-volume':
      return `remove volume ${operation.dockerName}`;
    case 'connect-network':
      return `connect ${operation.container.name} to ${operation.network}`;
    case 'disconnect-network':
      return `disconnect ${operation.container.name} from ${operation.network}`;
    case 'create-network':
      return `create network ${operation.network}`;
    case 'create-volume':
      return `create volume ${operation.dockerName}`;
    case 'remove-network':
      return `remove network ${operation.network}`;
    case 'rename-container':
      return `rename container ${operation.container.name} → ${operation.to}`;
    case 'wait-ready':
      return `${operation.spec ? `run the post_start hooks (${operation.spec.postStart.length}) of ${operation.container.name} again, then ` : ''}wait until ${operation.container.name} is ready`;
    case 'run-hook':
      return `run ${operation.phase} job ${operation.job} (${operation.container.service}: ${operation.spec.service.image}) in ${operation.container.name}, timeout ${Math.round(operation.timeoutMs / 1000)} s`;
    case 'start-container':
      return `start container ${operation.container.name}${operation.spec ? `, then run its post_start hooks (${operation.spec.postStart.length})` : ''}`;
    case 'stop-container':
      return `${operation.spec ? `run the pre_stop hooks (${operation.spec.preStop.length}) of ${operation.container.name}, then ` : ''}stop container ${operation.container.name}`;
    case 'create-container':
    case 'remove-container':
      return `${operation.kind.split('-')[0]} container ${operation.container.name}`;
  }
}

/** One line per operation for `history`: what changed, without ids. */
export function changeSummary(plan: Plan): string[] {
  return plan.operations.map((operation) => `${describe(operation)}: ${operation.cause}`);
}
