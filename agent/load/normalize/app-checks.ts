// Checks across the services of one app, once all of them are normalized: single-writer volumes,
// depends_on, sidecars and network settings that contradict each other. Pure.
import type { AppDraft, ServiceDraft } from './draft.js';
import { formatKeyPath, type KeyPath, type PathProblem } from '../problems.js';
import { jobProblems } from '../../jobs/app-checks.js';

type LineOf = (path: KeyPath) => number;

export function appProblems(app: AppDraft, lineOf: LineOf): PathProblem[] {
  return [...volumeProblems(app, lineOf), ...sidecarProblems(app), ...networkProblems(app), ...dependencyProblems(app), ...readOnlyProblems(app), ...jobProblems(app)];
}

/** Docker's archive API refuses to write into a read-only root file system, even before the start. */
function readOnlyProblems(app: AppDraft): PathProblem[] {
  return app.services
    .filter((service) => service.readOnly && service.secretFiles !== undefined)
    .map((service) => ({
      code: 'SECRETS_READ_ONLY',
      path: ['services', service.name, 'read_only'],
      message: 'secret files are written into the container\'s file system before it starts, which read_only: true forbids; drop read_only, or pass the values in environment',
    }));
}

function place(path: KeyPath, lineOf: LineOf): string {
  const line = lineOf(path);
  return line > 0 ? `${formatKeyPath(path)} (line ${line})` : formatKeyPath(path);
}

/**
 * A named volume has a single writer unless declared `shared`: two services, or two replicas of
 * one, mounting it read-write would both write the same files (a database's, typically).
 */
function volumeProblems(app: AppDraft, lineOf: LineOf): PathProblem[] {
  const problems: PathProblem[] = [];
  const volumes = new Map(app.volumes.map((volume) => [volume.name, volume]));
  const firstWriter = new Map<string, KeyPath>();
  // In the order of the file, so the second writer is the one reported.
  for (const service of [...app.services].sort((left, right) => left.source.line - right.source.line)) {
    service.mounts.forEach((mount, index) => {
      if (mount.type !== 'volume') return;
      const volume = volumes.get(mount.volume);
      const path: KeyPath = ['services', service.name, 'volumes', index];
      if (volume?.remove) {
        problems.push({ code: 'VOLUME_REMOVED', path, message: `volume '${mount.volume}' is marked remove: true, so no service may mount it; drop this mount or the remove setting` });
        return;
      }
      if (mount.readOnly || volume?.shared) return;
      const hint = `declare it shared (volumes: {${mount.volume}: {shared: true}}) if the software supports several writers, or mount it read-only (:ro)`;
      if (service.replicas > 1) {
        problems.push({
          code: 'VOLUME_SINGLE_WRITER',
          path,
          message: `service '${service.name}' has ${service.replicas} replicas, and each would mount the single-writer volume '${mount.volume}' read-write; ${hint}`,
        });
      }
      const earlier = firstWriter.get(mount.volume);
      if (earlier && earlier[1] !== service.name) {
        problems.push({
          code: 'VOLUME_SINGLE_WRITER',
          path,
          message: `volume '${mount.volume}' is single-writer and service '${String(earlier[1])}' already mounts it read-write at ${place(earlier, lineOf)}; ${hint}`,
        });
      } else if (!earlier) firstWriter.set(mount.volume, path);
    });
  }
  return problems;
}

function parentOf(service: ServiceDraft): string | undefined {
  return service.networkMode?.kind === 'service' ? service.networkMode.service : undefined;
}

function sidecarProblems(app: AppDraft): PathProblem[] {
  const problems: PathProblem[] = [];
  const byName = new Map(app.services.map((service) => [service.name, service]));
  for (const service of app.services) {
    const parentName = parentOf(service);
    if (parentName === undefined) continue;
    const path: KeyPath = ['services', service.name, 'network_mode'];
    const parent = byName.get(parentName);
    if (!parent) problems.push({ code: 'SIDECAR_PARENT_UNKNOWN', path, message: `there is no service '${parentName}' in app '${app.name}' to share the network of` });
    else if (parent === service) problems.push({ code: 'SIDECAR_PARENT_UNKNOWN', path, message: 'a service cannot share its own network namespace' });
    else if (parent.networkMode !== undefined) {
      problems.push({ code: 'SIDECAR_CHAIN', path, message: `service '${parentName}' has a network_mode of its own; a sidecar's parent must be on the app's networks` });
    }
    const own = (key: string, message: string) => problems.push({ code: 'SIDECAR_NETWORK', path: ['services', service.name, key], message });
    if (service.ports.length > 0) own('ports', `a sidecar shares the network of '${parentName}': publish its ports there`);
    if (service.egress === false) own('egress', `a sidecar shares the network of '${parentName}': set egress there`);
    if (service.uses) own('uses', `a sidecar shares the network of '${parentName}': grant access there`);
  }
  return problems;
}

function networkProblems(app: AppDraft): PathProblem[] {
  const problems: PathProblem[] = [];
  for (const service of app.services) {
    const mode = service.networkMode?.kind;
    if ((mode === 'host' || mode === 'none') && service.ports.length > 0) {
      const why = mode === 'host' ? 'it listens on the host\'s ports directly' : 'it has no network';
      problems.push({ code: 'PORTS_WITHOUT_NETWORK', path: ['services', service.name, 'ports'], message: `with network_mode: ${mode} nothing can be published (${why}); remove ports` });
    }
    if ((mode === 'host' || mode === 'none') && service.uses) {
      problems.push({ code: 'USES_WITHOUT_NETWORK', path: ['services', service.name, 'uses'], message: `with network_mode: ${mode} the service joins no network, so it cannot use another app's` });
    }
    if ((mode === 'host' || mode === 'none') && service.egress === false) {
      problems.push({ code: 'EGRESS_WITH_NETWORK_MODE', path: ['services', service.name, 'egress'], message: `egress applies to the app's networks, which a service with network_mode: ${mode} does not join` });
    }
    if (mode === undefined && service.egress === false && service.ports.length > 0) {
      problems.push({ code: 'PORTS_WITHOUT_EGRESS', path: ['services', service.name, 'ports'], message: 'a service with egress: false is on internal networks only, which Docker cannot publish ports from; remove ports or egress: false' });
    }
  }
  return problems;
}

/** depends_on: known services, conditions their targets can meet, and no cycles. */
function dependencyProblems(app: AppDraft): PathProblem[] {
  const problems: PathProblem[] = [];
  const byName = new Map(app.services.map((service) => [service.name, service]));
  for (const service of app.services) {
    for (const dependency of service.dependsOn ?? []) {
      const path: KeyPath = ['services', service.name, 'depends_on'];
      const target = byName.get(dependency.service);
      if (!target) {
        problems.push({ code: 'DEPENDENCY_UNKNOWN', path, message: `there is no service '${dependency.service}' in app '${app.name}'` });
        continue;
      }
      if (target === service) problems.push({ code: 'DEPENDENCY_CYCLE', path, message: 'a service cannot depend on itself' });
      const hasHealthcheck = target.healthcheck !== undefined && target.healthcheck.test[0] !== 'NONE';
      if (dependency.condition === 'service_healthy' && !hasHealthcheck) {
        problems.push({ code: 'DEPENDENCY_CONDITION', path, message: `service_healthy needs a healthcheck on '${dependency.service}', which has none` });
      }
      if (dependency.condition === 'service_completed_successfully' && target.restart !== 'no' && target.restart !== 'on-failure') {
        problems.push({
          code: 'DEPENDENCY_CONDITION',
          path,
          message: `service_completed_successfully needs '${dependency.service}' to be a one-shot (restart: no or on-failure); it would never complete`,
        });
      }
    }
  }
  const cycle = findCycle(app.services);
  if (cycle) {
    problems.push({ code: 'DEPENDENCY_CYCLE', path: ['services', cycle[0], 'depends_on'], message: `depends_on forms a cycle: ${cycle.join(' → ')}` });
  }
  return problems;
}

/** One cycle of depends_on edges (self-edges are reported on their own), as service names. */
function findCycle(services: ServiceDraft[]): string[] | undefined {
  const edges = new Map(services.map((service) => [service.name, (service.dependsOn ?? []).map((dependency) => dependency.service).filter((name) => name !== service.name)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === 'done' || !edges.has(name)) return undefined;
    if (state.get(name) === 'visiting') return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 'visiting');
    stack.push(name);
    for (const next of edges.get(name)!) {
      const found = visit(next);
      if (found) return found;
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const service of services) {
    const found = visit(service.name);
    if (found) return found;
  }
  return undefined;
}
