// The app's declared networks and the ones each service joins (schema-networks.ts) → the model.
// Only what the manifest sets is present, so apps without networks keep their config hashes.
import type { ManifestProblem } from '../errors.js';
import type { AppNetworkSpec, ServiceNetworkSpec } from '../model.js';
import type { KeyPath, PathProblem } from './problems.js';
import type { Manifest, ServiceManifest } from './schema.js';
import { RESERVED_NETWORKS } from './schema-patterns.js';

const byText = (left: string, right: string) => (left < right ? -1 : left > right ? 1 : 0);

export function appNetworks(manifest: Manifest, problems: PathProblem[]): AppNetworkSpec[] {
  const declared: AppNetworkSpec[] = [];
  for (const [name, spec] of Object.entries(manifest.networks ?? {})) {
    if ((RESERVED_NETWORKS as readonly string[]).includes(name)) {
      const why = name === 'default' ? 'the app always has it (`<app>_default`); list it under a service\'s networks without declaring it' : 'it is the network of services with egress: false';
      problems.push({ code: 'NETWORK_RESERVED', path: ['networks', name], atKey: true, message: `'${name}' cannot be declared: ${why}` });
      continue;
    }
    declared.push({ name, internal: spec?.internal ?? false });
  }
  return declared.sort((left, right) => byText(left.name, right.name));
}

/**
 * The service's networks, `default` first (the one its containers are created on), then by name.
 * `internal` lists the declared internal networks: a service on nothing else cannot publish.
 */
export function serviceNetworks(spec: ServiceManifest, path: KeyPath, declared: AppNetworkSpec[], problems: PathProblem[]): ServiceNetworkSpec[] | undefined {
  if (spec.networks === undefined) return undefined;
  const entries: [string, string[]][] = Array.isArray(spec.networks)
    ? spec.networks.map((name) => [name, []])
    : Object.entries(spec.networks).map(([name, options]) => [name, options?.aliases ?? []]);
  const byName = new Map(declared.map((network) => [network.name, network]));
  const joined = new Map<string, ServiceNetworkSpec>();
  entries.forEach(([name, aliases], index) => {
    const at: KeyPath = Array.isArray(spec.networks) ? [...path, 'networks', index] : [...path, 'networks', name];
    if (name !== 'default' && !byName.has(name)) {
      problems.push({ code: 'NETWORK_UNDECLARED', path: at, atKey: !Array.isArray(spec.networks), message: `network '${name}' is not declared; add it under the top-level networks (networks: {${name}: {}})` });
      return;
    }
    joined.set(name, { network: name, aliases: [...new Set([...(joined.get(name)?.aliases ?? []), ...aliases])].sort(byText) });
  });
  if (spec.network_mode !== undefined) {
    problems.push({ code: 'NETWORKS_WITH_NETWORK_MODE', path: [...path, 'networks'], message: 'a service with network_mode joins no network of the app; remove networks or network_mode' });
  }
  if (spec.egress === false) {
    problems.push({ code: 'NETWORKS_WITH_EGRESS', path: [...path, 'networks'], message: 'egress: false chooses the networks itself; put the service on internal networks instead' });
  }
  const ordered = [...joined.values()].sort((left, right) => (left.network === 'default' ? -1 : right.network === 'default' ? 1 : byText(left.network, right.network)));
  const internalOnly = ordered.length > 0 && ordered.every((entry) => byName.get(entry.network)?.internal === true);
  if (internalOnly && (spec.ports?.length ?? 0) > 0) {
    problems.push({ code: 'PORTS_ON_INTERNAL_NETWORKS', path: [...path, 'ports'], message: 'the service is on internal networks only, which Docker cannot publish ports from; remove ports or join a network that is not internal' });
  }
  return ordered;
}

/**
 * App names may hold `_`, so app `a` declaring `b_default` would get app `a_b`'s default network
 * (`a_b_default`): one Docker network for two apps, a way between them nobody granted.
 */
export function networkNameClashes(apps: { name: string; source: { file: string }; networks?: AppNetworkSpec[] }[]): ManifestProblem[] {
  const owners = new Map<string, string>();
  for (const app of apps) for (const name of ['default', 'internal']) owners.set(`${app.name}_${name}`, app.name);
  const problems: ManifestProblem[] = [];
  for (const app of apps) {
    for (const network of app.networks ?? []) {
      const dockerName = `${app.name}_${network.name}`;
      const owner = owners.get(dockerName);
      if (owner !== undefined && owner !== app.name) {
        const message = `the Docker network '${dockerName}' would also be a network of app '${owner}'; rename the network`;
        problems.push({ code: 'NETWORK_NAME_CLASH', file: app.source.file, line: 0, column: 0, key: `networks.${network.name}`, message });
      }
      owners.set(dockerName, app.name);
    }
  }
  return problems;
}
