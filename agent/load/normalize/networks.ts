// The app's declared networks and the ones each service joins (../schema/networks.ts) → the model.
// Only what the manifest sets is present, so apps without networks keep their config hashes.
import type { ManifestProblem } from '../../errors.js';
import type { AppNetworkSpec, IpamSpec, ServiceNetworkSpec } from '../../model.js';
import type { KeyPath, PathProblem } from '../problems.js';
import type { Manifest, ServiceManifest } from '../schema/schema.js';
import { RESERVED_NETWORKS } from '../schema/patterns.js';

const byText = (left: string, right: string) => (left < right ? -1 : left > right ? 1 : 0);

export function appNetworks(manifest: Manifest, problems: PathProblem[], lineOf: (path: KeyPath) => number = () => 0): AppNetworkSpec[] {
  const declared: AppNetworkSpec[] = [];
  for (const [name, spec] of Object.entries(manifest.networks ?? {})) {
    if ((RESERVED_NETWORKS as readonly string[]).includes(name)) {
      const why = name === 'default' ? 'the app always has it (`<app>_default`); list it under a service\'s networks without declaring it' : 'it is the network of services with egress: false';
      problems.push({ code: 'NETWORK_RESERVED', path: ['networks', name], atKey: true, message: `'${name}' cannot be declared: ${why}` });
      continue;
    }
    const network: AppNetworkSpec = { name, internal: spec?.internal ?? false };
    const path: KeyPath = ['networks', name];
    if (spec?.external === true) {
      network.external = { dockerName: spec.name ?? name, line: lineOf([...path, 'external']) };
      for (const key of ['internal', 'ipam'] as const) {
        if (spec[key] !== undefined) problems.push({ code: 'NETWORK_EXTERNAL_SETTINGS', path: [...path, key], atKey: true, message: `an external network is not created by Capstan, so ${key} has no effect; remove it` });
      }
    } else if (spec?.name !== undefined) {
      // Compose's `name:` without `external`: the network of that name, shared with whatever else
      // names it (another app, another Compose project); created when missing, never removed.
      network.external = { dockerName: spec.name, line: lineOf([...path, 'name']), create: true };
      for (const key of ['internal', 'ipam'] as const) {
        if (spec[key] !== undefined) problems.push({ code: 'NETWORK_EXTERNAL_SETTINGS', path: [...path, key], atKey: true, message: `a network named by name: is shared with whoever else names it, and may exist already, so ${key} is not applied; remove it` });
      }
    }
    const config = spec?.ipam?.config?.[0];
    if (config && network.external === undefined) {
      const ipam: IpamSpec = { subnet: config.subnet, line: lineOf([...path, 'ipam', 'config', 0, 'subnet']) };
      if (config.ip_range !== undefined) ipam.ipRange = config.ip_range;
      if (config.gateway !== undefined) ipam.gateway = config.gateway;
      if (config.aux_addresses !== undefined) ipam.auxAddresses = config.aux_addresses;
      for (const [key, address] of [['ip_range', config.ip_range], ['gateway', config.gateway]] as const) {
        if (address !== undefined && !withinSubnet(address, config.subnet)) {
          problems.push({ code: 'IPAM_INVALID', path: [...path, 'ipam', 'config', 0, key], message: `${address} is not inside the subnet ${config.subnet}` });
        }
      }
      network.ipam = ipam;
    }
    declared.push(network);
  }
  return declared.sort((left, right) => byText(left.name, right.name));
}

/**
 * The service's networks, `default` first (the one its containers are created on), then by name.
 * `internal` lists the declared internal networks: a service on nothing else cannot publish.
 */
export function serviceNetworks(spec: ServiceManifest, path: KeyPath, declared: AppNetworkSpec[], problems: PathProblem[]): ServiceNetworkSpec[] | undefined {
  if (spec.networks === undefined) return undefined;
  const entries: [string, string[], string | undefined][] = Array.isArray(spec.networks)
    ? spec.networks.map((name) => [name, [], undefined])
    : Object.entries(spec.networks).map(([name, options]) => [name, options?.aliases ?? [], options?.ipv4_address]);
  const byName = new Map(declared.map((network) => [network.name, network]));
  const joined = new Map<string, ServiceNetworkSpec>();
  entries.forEach(([name, aliases, ipv4Address], index) => {
    const at: KeyPath = Array.isArray(spec.networks) ? [...path, 'networks', index] : [...path, 'networks', name];
    if (name !== 'default' && !byName.has(name)) {
      problems.push({ code: 'NETWORK_UNDECLARED', path: at, atKey: !Array.isArray(spec.networks), message: `network '${name}' is not declared; add it under the top-level networks (networks: {${name}: {}})` });
      return;
    }
    const entry: ServiceNetworkSpec = { network: name, aliases: [...new Set([...(joined.get(name)?.aliases ?? []), ...aliases])].sort(byText) };
    if (ipv4Address !== undefined) {
      const subnet = byName.get(name)?.ipam?.subnet;
      if (subnet === undefined) {
        problems.push({ code: 'IPV4_ADDRESS_WITHOUT_SUBNET', path: [...at, 'ipv4_address'], message: `a fixed address needs a subnet: give network '${name}' an ipam config with a subnet` });
      } else if (!withinSubnet(ipv4Address, subnet)) {
        problems.push({ code: 'IPV4_ADDRESS_INVALID', path: [...at, 'ipv4_address'], message: `${ipv4Address} is not inside the subnet ${subnet} of network '${name}'` });
      } else if ((spec.replicas ?? 1) > 1) {
        problems.push({ code: 'IPV4_ADDRESS_REPLICAS', path: [...at, 'ipv4_address'], message: `one address cannot be given to ${spec.replicas} replicas; remove ipv4_address or run one replica` });
      }
      entry.ipv4Address = ipv4Address;
    }
    joined.set(name, entry);
  });
  if (spec.network_mode !== undefined) {
    problems.push({ code: 'NETWORKS_WITH_NETWORK_MODE', path: [...path, 'networks'], message: 'a service with network_mode joins no network of the app; remove networks or network_mode' });
  }
  if (spec.egress === false) {
    problems.push({ code: 'NETWORKS_WITH_EGRESS', path: [...path, 'networks'], message: 'egress: false chooses the networks itself; put the service on internal networks instead' });
  }
  const ordered = [...joined.values()].sort((left, right) => (left.network === 'default' ? -1 : right.network === 'default' ? 1 : byText(left.network, right.network)));
  const internalOnly = ordered.length > 0 && ordered.every((entry) => byName.get(entry.network)?.internal === true && !byName.get(entry.network)?.external);
  if (internalOnly && (spec.ports?.length ?? 0) > 0) {
    problems.push({ code: 'PORTS_ON_INTERNAL_NETWORKS', path: [...path, 'ports'], message: 'the service is on internal networks only, which Docker cannot publish ports from; remove ports or join a network that is not internal' });
  }
  return ordered;
}

/** Whether an IPv4 address, or a CIDR range, lies inside `subnet`. */
export function withinSubnet(address: string, subnet: string): boolean {
  const [base, bits] = subnet.split('/');
  const [inner, innerBits] = address.split('/');
  const prefix = Number(bits);
  if (innerBits !== undefined && Number(innerBits) < prefix) return false;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return ((ipv4Number(inner) & mask) >>> 0) === ((ipv4Number(base) & mask) >>> 0);
}

export function ipv4Number(address: string): number {
  return address.split('.').reduce((value, part) => value * 256 + Number(part), 0);
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
      if (network.external) continue;
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
