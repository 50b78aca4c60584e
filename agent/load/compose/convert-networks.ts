// A Compose service's networks → native `networks` (with aliases) and `network_mode`. Compose's
// `container_name` is often how the other services address one, so it becomes an alias too.
import type { KeyPath } from '../problems.js';
import { checkKeys, note, peek, problem, refuse, serviceKey, type ConvertContext } from './context.js';
import { SERVICE_NETWORK } from './keys.js';
import { text, type Located, type LocatedMap, type MapEntry } from './located.js';
import { asNameMap } from './merge.js';

export function convertNetworks(context: ConvertContext, path: KeyPath, entry: MapEntry, service: LocatedMap, nameAlias?: Located): void {
  const networks = asNameMap(entry.value);
  const joined = new Map<string, { aliases: Located[]; entry: MapEntry; address?: MapEntry }>();
  for (const [name, network] of networks.entries) {
    if (context.refused.networks.has(name)) continue;
    const aliases: Located[] = [];
    const options = network.value.kind === 'map' ? network.value : undefined;
    let address: MapEntry | undefined;
    if (options) {
      for (const key of checkKeys(context, options, SERVICE_NETWORK)) {
        if (key === 'ipv4_address') {
          address = options.entries.get(key)!;
          continue;
        }
        const list = options.entries.get(key)!.value;
        if (list.kind === 'seq') aliases.push(...list.items);
        else problem(context, list.at, 'COMPOSE_INVALID', 'aliases must be a list');
      }
    }
    joined.set(name, { aliases, entry: network, address });
  }
  containerNameAlias(context, path, service, joined, nameAlias);
}

/**
 * Writes the service's networks. `container_name` is often how other services address this
 * one, so the name becomes an alias on each network the service joins (`default` when none).
 */
export function containerNameAlias(
  context: ConvertContext,
  path: KeyPath,
  service: LocatedMap,
  joined: Map<string, { aliases: Located[]; entry: MapEntry; address?: MapEntry }> | undefined,
  nameAlias?: Located,
): void {
  const containerName = service.entries.get('container_name');
  const hasMode = service.entries.has('network_mode');
  // The service's Compose name, when its native key differs (`Web` → `web`), as if it were a container_name.
  if (nameAlias && !hasMode) {
    if (!joined) joined = new Map([['default', { aliases: [], entry: { keyAt: nameAlias.at, value: nameAlias } }]]);
    for (const network of joined.values()) network.aliases.push(nameAlias);
  }
  if (containerName) {
    const reach = hasMode ? 'with network_mode, this name is not used' : 'this name stays reachable as a network alias';
    note(context, containerName.keyAt, `containers are named <app>-<service>-<n>; ${reach}`);
  }
  if (!joined) {
    if (!containerName || hasMode) return;
    joined = new Map([['default', { aliases: [], entry: containerName }]]);
  }
  if (containerName && !hasMode) for (const network of joined.values()) network.aliases.push(containerName.value);
  if (joined.size === 0) return;
  const withAliases = [...joined.values()].some((network) => network.aliases.length > 0 || network.address !== undefined);
  const at = service.entries.get('networks')?.value.at ?? containerName?.value.at ?? nameAlias!.at;
  const keyAt = service.entries.get('networks')?.keyAt ?? containerName?.keyAt ?? nameAlias!.at;
  if (!withAliases) {
    context.doc.set([...path, 'networks'], [], { at, keyAt });
    [...joined].forEach(([name, network], index) => context.doc.set([...path, 'networks', index], name, { at: network.entry.keyAt }));
    return;
  }
  context.doc.set([...path, 'networks'], {}, { at, keyAt });
  for (const [name, network] of joined) {
    const settings = network.aliases.length > 0 || network.address ? {} : null;
    context.doc.set([...path, 'networks', name], settings, { at: network.entry.value.at, keyAt: network.entry.keyAt });
    if (network.aliases.length > 0) context.doc.set([...path, 'networks', name, 'aliases'], [], { at: network.entry.value.at });
    network.aliases.forEach((alias, index) => context.doc.copy([...path, 'networks', name, 'aliases', index], alias));
    if (network.address) context.doc.copy([...path, 'networks', name, 'ipv4_address'], network.address.value, network.address.keyAt);
  }
}

export function convertNetworkMode(context: ConvertContext, path: KeyPath, entry: MapEntry): void {
  const mode = peek(context, entry.value);
  // `container:NAME` naming a container of this app (its container_name, or Compose's own
  // `<app>-<service>-1`) is that service's namespace, which Compose shares once it runs.
  const sibling = mode?.startsWith('container:') ? context.containerNames?.get(mode.slice('container:'.length)) : undefined;
  if (sibling !== undefined) {
    note(context, entry.value.at, `${mode} is the container of service '${sibling}' of this app: its network namespace is shared as with network_mode: service:${sibling}`);
    const key = serviceKey(context, sibling);
    context.doc.set([...path, 'network_mode'], `service:${key}`, { at: entry.value.at, keyAt: entry.keyAt });
    return;
  }
  if (mode === 'bridge' || mode?.startsWith('container:')) {
    refuse(context, entry.value.at, `network_mode: ${mode === 'bridge' ? 'bridge (services are on the app\'s own networks)' : 'container:… (use service:<name> for a sidecar)'}`);
    return;
  }
  const parent = mode?.startsWith('service:') ? mode.slice('service:'.length) : undefined;
  if (parent !== undefined && context.refused.services?.has(parent)) return;
  const key = parent === undefined || text(entry.value)?.includes('$') ? undefined : serviceKey(context, parent);
  if (key !== undefined && key !== parent) context.doc.set([...path, 'network_mode'], `service:${key}`, { at: entry.value.at, keyAt: entry.keyAt });
  else context.doc.copy([...path, 'network_mode'], entry.value, entry.keyAt);
}
