import { createHash } from 'node:crypto';

// Docker object names, in one place. They follow Compose (`<project>-<service>-<n>`,
// `<project>_default`) so people coming from Compose recognise them in `docker ps`.

export function containerName(app: string, service: string, replica: number): string {
  return `${app}-${service}-${replica}`;
}

/**
 * A replacement is created under this name, then the old container is stopped and removed,
 * then the new one is renamed to `containerName(...)`. Observation recognises it by its
 * labels, not by this name, so a crash between any two steps is finished by the next plan.
 */
export function nextContainerName(app: string, service: string, replica: number): string {
  return `${containerName(app, service, replica)}--next`;
}

/**
 * The anonymous volume a replica slot mounts at `target` (Compose's `- /app/node_modules`):
 * named after the slot and a digest of the target, so every container of the slot, old or new,
 * finds the same volume by name after any crash. 12 hex digits: two targets of one slot never meet.
 */
export function anonymousVolumeName(app: string, service: string, replica: number, target: string): string {
  return `${containerName(app, service, replica)}_${createHash('sha256').update(target).digest('hex').slice(0, 12)}`;
}

/** A scheduled job's run (agent/jobs): one container per run, named after the run's row in SQLite. */
export function jobRunContainerName(app: string, service: string, runId: number): string {
  return `${app}-${service}-run-${runId}`;
}

export function appNetworkName(app: string): string {
  return `${app}_default`;
}

/** A network the app declares besides `default` (Compose's `<project>_<network>`). */
export function declaredNetworkName(app: string, network: string): string {
  return `${app}_${network}`;
}

/**
 * Created only when some service of the app has `egress: false` (or a consumer without egress
 * uses the app): internal, so it reaches nothing outside; every networked service of the app
 * joins it, so the services without egress still reach their peers.
 */
export function internalNetworkName(app: string): string {
  return `${app}_internal`;
}

/**
 * Joined by one provider service and the consumers granted it (`uses: [app/service]`), and by
 * nothing else of the provider's app. App and service names hold no `.`, so no two grants, and
 * no grant and an app's own network, can share a name.
 */
export function grantNetworkName(app: string, service: string): string {
  return `${app}.${service}.grant`;
}

/** A hook job's one-shot container: dots, which no app or service name has, keep it apart from replicas. */
export function hookContainerName(app: string, phase: string, job: string): string {
  return `${app}.${phase}.${job}`;
}
