// Checks that span files: each needs every manifest loaded first. Pure, over located sites.
import type { ManifestProblem } from '../errors.js';
import type { GrantSpec, PortSpec } from '../model.js';
import type { AppDraft } from './normalize/draft.js';
import { closest } from './suggest.js';

export interface Site {
  file: string;
  line: number;
  column: number;
  key: string;
}

export interface AppSite extends Site {
  name: string;
}

export interface PortBinding extends Site {
  app: string;
  service: string;
  port: PortSpec;
  replicas: number;
}

export interface GrantBinding extends Site {
  /** The consumer. */
  app: string;
  service: string;
  grant: GrantSpec;
}

function where(site: Site): string {
  return `${site.file}:${site.line}${site.key ? ` (${site.key})` : ''}`;
}

export function duplicateApps(sites: AppSite[]): ManifestProblem[] {
  const first = new Map<string, AppSite>();
  const problems: ManifestProblem[] = [];
  for (const site of sites) {
    const earlier = first.get(site.name);
    if (!earlier) {
      first.set(site.name, site);
      continue;
    }
    const message = `app '${site.name}' is also defined in ${where(earlier)}; app names must be unique across files: rename one`;
    problems.push({ code: 'DUPLICATE_APP', file: site.file, line: site.line, column: site.column, key: site.key, message });
  }
  return problems;
}

const WILDCARDS = new Set([undefined, '0.0.0.0', '::']);

/** Two bindings collide on the same port and protocol unless both name different addresses. */
function overlaps(left: PortSpec, right: PortSpec): boolean {
  if (left.hostPort !== right.hostPort || left.protocol !== right.protocol) return false;
  return WILDCARDS.has(left.hostIp) || WILDCARDS.has(right.hostIp) || left.hostIp === right.hostIp;
}

/**
 * A host port can be bound once per host, across all apps; and the replicas of one service would
 * all bind the same fixed port. Services with 0 replicas bind nothing and are left out.
 */
export function portProblems(bindings: PortBinding[]): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const fixed = bindings.filter((binding) => binding.port.hostPort !== undefined && binding.replicas > 0);
  fixed.forEach((binding, index) => {
    const { port } = binding;
    const problem = (code: string, message: string): ManifestProblem => ({ code, file: binding.file, line: binding.line, column: binding.column, key: binding.key, message });
    if (binding.replicas > 1) {
      problems.push(problem('PORT_REPLICAS', `service '${binding.service}' has ${binding.replicas} replicas but publishes the fixed host port ${port.hostPort}, which only one container can bind; leave out the host port to let Docker pick one per replica, or run 1 replica`));
    }
    const earlier = fixed.slice(0, index).find((other) => overlaps(other.port, port));
    if (earlier) {
      const address = port.hostIp ?? 'all addresses';
      problems.push(problem('PORT_CONFLICT', `host port ${port.hostPort}/${port.protocol} on ${address} is already published by app '${earlier.app}' service '${earlier.service}' at ${where(earlier)}; use another host port`));
    }
  });
  return problems;
}

/**
 * Every grant must name an app of this commit, other than the consumer's own, and a service of it
 * that is on the app's networks (a sidecar or a host-network service joins none to be granted).
 */
export function grantProblems(grants: GrantBinding[], apps: AppDraft[]): ManifestProblem[] {
  const byName = new Map(apps.map((app) => [app.name, app]));
  const problems: ManifestProblem[] = [];
  for (const site of grants) {
    const problem = (message: string) => problems.push({ code: 'GRANT_UNKNOWN', file: site.file, line: site.line, column: site.column, key: site.key, message });
    const provider = byName.get(site.grant.app);
    if (site.grant.app === site.app) {
      problem(`services of app '${site.app}' reach each other already; uses names other apps`);
      continue;
    }
    if (!provider) {
      const suggestion = closest(site.grant.app, [...byName.keys()]);
      problem(`there is no app '${site.grant.app}' in the manifests${suggestion ? ` (did you mean '${suggestion}'?)` : ''}; uses names an app or app/service`);
      continue;
    }
    if (site.grant.service === undefined) continue;
    const service = provider.services.find((candidate) => candidate.name === site.grant.service);
    if (!service) {
      problem(`app '${provider.name}' has no service '${site.grant.service}' (it has ${provider.services.map((candidate) => candidate.name).join(', ')})`);
    } else if (service.networkMode !== undefined) {
      problem(`service '${provider.name}/${service.name}' has network_mode: ${service.networkMode.kind}, so it joins no network to be reached on; grant its parent or the whole app`);
    }
  }
  return problems;
}
