// What `capstan status` reads from a target: each replica (a container, or a Swarm task) in one
// shape, so the READY and HEALTH columns mean the same thing on every target. Each target's
// status.ts lists them; the report itself is decided in cli/status-report.ts.

export interface StatusReplica {
  app: string;
  service: string;
  state: string;
  configHash: string;
  health: string | null;
  exitCode?: number | null;
}

/** A replica that serves: running the current config, and healthy when Docker runs a check. */
export function isReadyReplica(replica: { state: string; configHash: string; health: string | null }, configHash: string): boolean {
  return replica.state === 'running' && replica.configHash === configHash && replica.health !== 'starting' && replica.health !== 'unhealthy';
}
