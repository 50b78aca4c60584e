import { renderPlan } from '../print.js';
import type { SwarmOperation, SwarmPlan } from './types.js';

/**
 * The printer for Swarm plans: `capstan plan` shows it and golden tests compare it. It names
 * objects and causes only (secret versions by their keyed name, never a value).
 */
export function printSwarmPlan(plan: SwarmPlan): string {
  return renderPlan(
    `plan for commit ${plan.commit.slice(0, 12)} on node ${plan.node} (swarm)`,
    plan.problems,
    plan.operations.map((operation) => ({ id: operation.id, text: describeSwarm(operation), cause: operation.cause, after: operation.after.length > 0 ? compactIds(operation.after) : '' })),
  );
}

/** `1, 2, 3, 5` → `1-3, 5`: removals wait for every service operation, which can be many. */
function compactIds(ids: number[]): string {
  const sorted = [...new Set(ids)].sort((left, right) => left - right);
  const ranges: string[] = [];
  for (let index = 0; index < sorted.length; index++) {
    const start = sorted[index];
    while (index + 1 < sorted.length && sorted[index + 1] === sorted[index] + 1) index++;
    const end = sorted[index];
    ranges.push(end - start >= 2 ? `${start}-${end}` : end === start ? `${start}` : `${start}, ${end}`);
  }
  return ranges.join(', ');
}

export function describeSwarm(operation: SwarmOperation): string {
  switch (operation.kind) {
    case 'remove-container':
      return `remove container ${operation.container}`;
    case 'remove-local-network':
      return `remove local network ${operation.network}`;
    case 'create-network':
      return `create overlay network ${operation.network}${operation.internal ? ' (internal)' : ''}`;
    case 'create-secret':
      return `create secret ${operation.secret}`;
    case 'create-config':
      return `create config ${operation.config}`;
    case 'create-service':
      return `create service ${operation.service.name}`;
    case 'update-service':
      return `update service ${operation.service.name}`;
    case 'scale-service':
      return `scale service ${operation.service.name} to ${operation.replicas}`;
    case 'await-rollout':
      return `wait for Swarm to roll out ${operation.service.name}`;
    case 'remove-service':
      return `remove service ${operation.service.name}`;
    case 'remove-network':
      return `remove overlay network ${operation.network}`;
    case 'remove-secret':
      return `remove secret ${operation.secret}`;
    case 'remove-config':
      return `remove config ${operation.config}`;
  }
}

/** One line per operation for `history`: what changed, without ids. */
export function swarmChangeSummary(operations: SwarmOperation[]): string[] {
  return operations.map((operation) => `${describeSwarm(operation)}: ${operation.cause}`);
}
