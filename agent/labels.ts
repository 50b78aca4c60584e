// The Docker label contract (docs/design.md). Users, tests and other tools rely on these
// names; change them only on purpose, everywhere.
export const LABEL = {
  managed: 'capstan.managed',
  app: 'capstan.app',
  service: 'capstan.service',
  replica: 'capstan.replica',
  configHash: 'capstan.config-hash',
  commit: 'capstan.commit',
  node: 'capstan.node',
  /** On a hook job's container: `<phase>/<job>` (targets/containers/execute-hook.ts). */
  hook: 'capstan.hook',
  /** On a scheduled job's run container only (agent/jobs): the run's id in SQLite. Deploys never touch it. */
  jobRun: 'capstan.job-run',
} as const;

/** Label values that mark an object as this agent's own. */
export function ownerLabels(node: string): Record<string, string> {
  return { [LABEL.managed]: 'true', [LABEL.node]: node };
}

/** True only for objects this agent created: managed by Capstan and placed by this node. */
export function isOwnedBy(labels: Record<string, string> | undefined | null, node: string): boolean {
  return labels?.[LABEL.managed] === 'true' && labels?.[LABEL.node] === node;
}
