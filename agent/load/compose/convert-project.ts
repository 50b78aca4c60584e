// A whole Compose project (the file with its override merged in) → one native manifest: the app
// name, `.env` as the app's env file, top-level volumes and networks, then each service whose
// profiles are active, after `extends` is resolved.
import { interpolate } from '../variables/interpolate.js';
import { checkKeys, expectMap, isEmpty, note, peek, peekBoolean, problem, refuse, serviceKey, type ConvertContext } from './context.js';
import { checkSecretDefinitions } from './convert-mounts.js';
import { convertService } from './convert-service.js';
import { applyVolumesFrom } from './volumes-from.js';
import { resolveExtends } from './extends.js';
import { NAME_PATTERN } from '../schema/patterns.js';
import { NETWORK, TOP_LEVEL, VOLUME } from './keys.js';
import { text, type LocatedMap, type MapEntry, type Origin } from './located.js';
import { asKeyedMap } from './merge.js';
import { selectProfiles } from './profiles.js';

export interface ProjectInput {
  tree: LocatedMap;
  /** The folder's name, the app name when neither `name:` nor COMPOSE_PROJECT_NAME gives one. */
  folderName: string;
  /** Where the folder's `.env` is, when there is one. */
  dotEnv?: Origin;
  /** The start of the Compose file, for what is written nowhere. */
  fileStart: Origin;
}

const TOP_ORDER = ['app', 'env_files', 'uses', 'volumes', 'networks', 'services'];

export function convertProject(context: ConvertContext, input: ProjectInput): void {
  const { tree } = input;
  const accepted = new Set(checkKeys(context, tree, TOP_LEVEL));
  const top = (key: string) => (accepted.has(key) ? tree.entries.get(key) : undefined);
  appName(context, input, top('name'));
  if (input.dotEnv) context.doc.set(['env_files'], ['.env'], { at: input.dotEnv });
  if (input.dotEnv) context.doc.place(['env_files', 0], { at: input.dotEnv });

  const volumes = top('volumes');
  if (volumes) convertTopVolumes(context, volumes);
  const networks = top('networks');
  if (networks) convertTopNetworks(context, networks);
  const secrets = expectMap(context, top('secrets')?.value, 'secrets');
  const configs = expectMap(context, top('configs')?.value, 'configs');
  if (secrets) checkSecretDefinitions(context, 'secrets', secrets);
  if (configs) checkSecretDefinitions(context, 'configs', configs);

  const servicesEntry = top('services');
  const services = expectMap(context, servicesEntry?.value, 'services');
  if (servicesEntry && services) {
    context.doc.set(['services'], {}, { at: services.at, keyAt: servicesEntry.keyAt });
    const resolved = resolveExtends(context, services);
    const selection = selectProfiles(context, resolved);
    const unnamed = serviceKeys(context, resolved);
    context.refused.services = unnamed;
    context.containerNames = containerNames(context, resolved, unnamed);
    for (const [name, service] of resolved.entries) {
      if (selection.active.has(name) && !unnamed.has(name)) convertService(context, name, service, { secrets, configs, ...selection });
    }
  }
  if (context.volumesFrom && services) {
    const converted = (composeName: string) => (services.entries.has(composeName) && context.doc.get(['services', serviceKey(context, composeName)]) !== undefined ? serviceKey(context, composeName) : undefined);
    applyVolumesFrom(context, context.volumesFrom, converted);
  }
  linkAliases(context);
  sharedVolumes(context);
  extension(context, tree);
  const data = context.doc.data;
  const entries = Object.entries(data).sort(([left], [right]) => TOP_ORDER.indexOf(left) - TOP_ORDER.indexOf(right));
  for (const [key] of entries) delete data[key];
  for (const [key, value] of entries) data[key] = value;
}

/** Compose's order: COMPOSE_PROJECT_NAME, then `name:`, then the folder, lower-cased without other characters. */
function appName(context: ConvertContext, input: ProjectInput, nameEntry: MapEntry | undefined): void {
  const fromEnv = context.lookup('COMPOSE_PROJECT_NAME');
  if (fromEnv) {
    context.doc.set(['app'], fromEnv, { at: input.dotEnv ?? input.fileStart });
    if (nameEntry) note(context, nameEntry.keyAt, 'COMPOSE_PROJECT_NAME in .env names the app instead');
    return;
  }
  if (nameEntry) {
    context.doc.set(['app'], peek(context, nameEntry.value) ?? '', { at: nameEntry.value.at, keyAt: nameEntry.keyAt });
    return;
  }
  const name = input.folderName.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[_-]+/, '');
  context.doc.set(['app'], name, { at: input.fileStart });
}

function withoutFalseExternal(map: LocatedMap): LocatedMap {
  const external = map.entries.get('external')?.value;
  if (external?.kind !== 'scalar' || external.value !== false) return map;
  return { ...map, entries: new Map([...map.entries].filter(([key]) => key !== 'external')) };
}

function convertTopVolumes(context: ConvertContext, volumesEntry: MapEntry): void {
  const volumes = expectMap(context, volumesEntry.value, 'volumes');
  if (!volumes) return;
  context.doc.set(['volumes'], {}, { at: volumes.at, keyAt: volumesEntry.keyAt });
  for (const [name, definition] of volumes.entries) {
    const key = volumeKey(context, name, definition);
    const path = ['volumes', key];
    const place = { at: definition.value.at, keyAt: definition.keyAt };
    // A renamed volume keeps the Docker name Compose gives it, so its data stays where it is.
    const dockerName = key === name ? undefined : `${String(context.doc.get(['app']))}_${name}`;
    if (isEmpty(definition.value)) {
      context.doc.set(path, dockerName === undefined ? {} : { name: dockerName }, place);
      continue;
    }
    const written = expectMap(context, definition.value, `volume '${name}'`);
    if (!written) continue;
    const volume = withoutFalseExternal(written);
    const before = context.problems.length;
    const accepted = checkKeys(context, volume, VOLUME);
    const external = accepted.includes('external') ? volume.entries.get('external')! : undefined;
    // Compose's older `external: {name: x}` means external: true, name: x.
    const externalName = external?.value.kind === 'map' ? external.value.entries.get('name') : undefined;
    const isExternal = external !== undefined && (externalName !== undefined || peekBoolean(context, external.value) === true);
    const driver = accepted.includes('driver') ? volume.entries.get('driver')! : undefined;
    if (isExternal) {
      // As compose-go's checkExternal: an external volume is not created, so nothing about its creation may be said.
      for (const [key, entry] of volume.entries) {
        if (key !== 'name' && key !== 'external' && !key.startsWith('x-')) problem(context, entry.keyAt, 'COMPOSE_INVALID', `conflicting parameters "external" and "${key}": an external volume exists already; remove ${key}`);
      }
      if (externalName && volume.entries.has('name')) problem(context, externalName.keyAt, 'COMPOSE_INVALID', 'name and external.name conflict; only use name');
    } else if (driver && text(driver.value) !== 'local') refuse(context, driver.value.at, `volume driver '${text(driver.value) ?? ''}'; volumes are local`);
    if (context.problems.length > before) {
      context.refused.volumes.add(name);
      continue;
    }
    // An external volume's Docker name is its key (Compose's name) unless `name` says otherwise.
    context.doc.set(path, isExternal ? (key === name ? {} : { name }) : dockerName === undefined ? {} : { name: dockerName }, place);
    if (isExternal) context.doc.set([...path, 'external'], true, { at: external.value.at, keyAt: external.keyAt });
    const volumeName = accepted.includes('name') ? volume.entries.get('name') : externalName;
    if (volumeName) context.doc.copy([...path, 'name'], volumeName.value, volumeName.keyAt);
    const labels = accepted.includes('labels') ? volume.entries.get('labels') : undefined;
    if (labels) {
      context.doc.set([...path, 'labels'], {}, { at: labels.value.at, keyAt: labels.keyAt });
      for (const [key, value] of asKeyedMap(labels.value).entries) context.doc.copy([...path, 'labels', key], value.value, value.keyAt);
    }
    copyExtension(context, path, volume);
  }
}

/**
 * Compose takes capitals and dots in service names (`Web`, `my.app`); native keys are DNS-safe
 * names, so such a service gets one (`web`, `my-app`), and its Compose name stays a network alias
 * on each of its networks, so the other services reach it by the name the file gives it.
 */
function serviceKeys(context: ConvertContext, services: LocatedMap): Set<string> {
  const unnamed = new Set<string>();
  const pattern = new RegExp(NAME_PATTERN);
  const taken = new Map([...services.entries.keys()].filter((name) => pattern.test(name)).map((name) => [name, name]));
  for (const [name, service] of services.entries) {
    if (pattern.test(name)) continue;
    const key = name.toLowerCase().replace(/[^a-z0-9_-]/g, '-').replace(/^[_-]+/, '').slice(0, 63);
    if (key === '' || taken.has(key)) {
      const clash = key === '' ? 'it has no letter or digit to name a container with' : `'${taken.get(key)!}' becomes '${key}' too`;
      problem(context, service.keyAt, 'COMPOSE_SERVICE_NAME', `service name '${name}' cannot be told apart in container names: ${clash}; rename one`);
      unnamed.add(name);
      continue;
    }
    taken.set(key, name);
    context.serviceKeys.set(name, key);
    const shared = service.value.kind === 'map' && service.value.entries.has('network_mode');
    note(context, service.keyAt, `containers of this service are named <app>-${key}-<n>${shared ? '' : `; '${name}' stays reachable as a network alias`}`);
  }
  return unnamed;
}

/** The names Compose gives the services' containers: `container_name`, else `<app>-<service>-1` (and v1's `<app>_<service>_1`). */
function containerNames(context: ConvertContext, services: LocatedMap, unnamed: Set<string>): Map<string, string> {
  const names = new Map<string, string>();
  const app = String(context.doc.get(['app']) ?? '');
  for (const name of services.entries.keys()) {
    if (unnamed.has(name)) continue;
    names.set(`${app}-${name}-1`, name);
    names.set(`${app}_${name}_1`, name);
  }
  for (const [name, service] of services.entries) {
    const given = service.value.kind === 'map' ? peek(context, service.value.entries.get('container_name')?.value) : undefined;
    if (given !== undefined && !unnamed.has(name)) names.set(given, name);
  }
  return names;
}

/** Compose takes dots and capitals in volume names; native keys are DNS-safe names. */
function volumeKey(context: ConvertContext, name: string, definition: MapEntry): string {
  if (new RegExp(NAME_PATTERN).test(name)) return name;
  const key = name.toLowerCase().replace(/[^a-z0-9_-]/g, '-').replace(/^[_-]+/, '').slice(0, 63);
  if (key === '') return name;
  context.volumeKeys.set(name, key);
  note(context, definition.keyAt, `the native format calls this volume '${key}'; its Docker volume keeps Compose's name`);
  return key;
}

function convertTopNetworks(context: ConvertContext, networksEntry: MapEntry): void {
  const networks = expectMap(context, networksEntry.value, 'networks');
  if (!networks) return;
  for (const [name, definition] of networks.entries) {
    const path = ['networks', name];
    const place = { at: definition.value.at, keyAt: definition.keyAt };
    const written = isEmpty(definition.value) ? undefined : expectMap(context, definition.value, `network '${name}'`);
    const network = written && withoutFalseExternal(written);
    const before = context.problems.length;
    const accepted = network ? checkKeys(context, network, NETWORK) : [];
    const driver = accepted.includes('driver') ? network!.entries.get('driver')! : undefined;
    if (driver && text(driver.value) !== 'bridge') refuse(context, driver.value.at, `network driver '${text(driver.value) ?? ''}'; networks are bridge networks on this host`);
    const internal = accepted.includes('internal') ? network!.entries.get('internal')! : undefined;
    const external = accepted.includes('external') ? network!.entries.get('external')! : undefined;
    // Compose's older `external: {name: x}` means external: true, name: x.
    const externalName = external?.value.kind === 'map' ? external.value.entries.get('name') : undefined;
    const isExternal = external !== undefined && (externalName !== undefined || peekBoolean(context, external.value) === true);
    const nameEntry = accepted.includes('name') ? network!.entries.get('name')! : externalName;
    if (nameEntry && !isExternal && name === 'default') refuse(context, nameEntry.keyAt, 'a named default network; the app\'s default network is `<app>_default`: declare the shared network under another name and list it under the services');
    if (isExternal && name === 'default') refuse(context, external.keyAt, 'an external default network; declare the external network under another name and list it under the services');
    const ipam = accepted.includes('ipam') ? expectMap(context, network!.entries.get('ipam')!.value, 'ipam') : undefined;
    if (ipam) convertIpamChecks(context, ipam);
    if (name === 'default' && internal && peekBoolean(context, internal.value) === true) {
      refuse(context, internal.keyAt, 'an internal default network; the app\'s default network keeps its way out: declare another network with internal: true and list it under the services');
    }
    if (context.problems.length > before) {
      context.refused.networks.add(name);
      continue;
    }
    // `default` is the app's own network, always there; settings on it have been checked above.
    if (name === 'default') continue;
    context.doc.set(path, {}, place);
    if (internal) context.doc.copy([...path, 'internal'], internal.value, internal.keyAt);
    if (isExternal) context.doc.set([...path, 'external'], true, { at: external.value.at, keyAt: external.keyAt });
    if (nameEntry) context.doc.copy([...path, 'name'], nameEntry.value, nameEntry.keyAt);
    if (ipam) context.doc.copy([...path, 'ipam'], ipam, network!.entries.get('ipam')!.keyAt);
    if (network) copyExtension(context, path, network);
  }
}

/** Compose's ipam: the default driver and one IPv4 config entry; the native schema checks the values. */
function convertIpamChecks(context: ConvertContext, ipam: LocatedMap): void {
  for (const [key, entry] of ipam.entries) {
    if (key === 'driver') {
      if (peek(context, entry.value) !== 'default') refuse(context, entry.value.at, 'an ipam driver other than default');
    } else if (key === 'options') refuse(context, entry.keyAt, 'ipam driver options');
    else if (key === 'config') {
      const items = entry.value.kind === 'seq' ? entry.value.items : [];
      if (items.length > 1) refuse(context, items[1].at, 'more than one ipam config entry (IPv6 and several subnets); give the network one IPv4 subnet');
      for (const item of items) {
        if (item.kind !== 'map') continue;
        for (const [field, value] of item.entries) {
          if (!['subnet', 'ip_range', 'gateway', 'aux_addresses'].includes(field)) problem(context, value.keyAt, 'COMPOSE_UNKNOWN_KEY', `'${field}' is not a Compose key here`);
        }
      }
    } else if (!key.startsWith('x-')) problem(context, entry.keyAt, 'COMPOSE_UNKNOWN_KEY', `'${key}' is not a Compose key here`);
  }
}

/**
 * A link alias (`links: [db:database]`) makes the linked service answer to it, as Compose's
 * legacy links do; here on each of that service's networks, so every service sharing one reaches
 * it by the alias too (Compose: only the linking one), which is noted.
 */
function linkAliases(context: ConvertContext): void {
  for (const { service, alias, at } of context.linkAliases) {
    if (context.refused.services?.has(service)) continue;
    const path = ['services', serviceKey(context, service)];
    const native = context.doc.get(path) as Record<string, unknown> | undefined;
    if (!native) {
      problem(context, at, 'COMPOSE_INVALID', `links names '${service}', which is not a service of this file`);
      continue;
    }
    if (native.network_mode !== undefined) {
      refuse(context, at, `a link alias of '${service}', which has a network_mode and so no network of its own to be reached on`);
      continue;
    }
    const written = native.networks ?? ['default'];
    const networks: Record<string, { aliases?: string[] } | null> = Array.isArray(written) ? Object.fromEntries(written.map((name) => [String(name), null])) : (written as Record<string, { aliases?: string[] } | null>);
    for (const name of Object.keys(networks)) {
      const aliases = networks[name]?.aliases ?? [];
      if (!aliases.includes(alias)) networks[name] = { ...(networks[name] ?? {}), aliases: [...aliases, alias] };
    }
    context.doc.set([...path, 'networks'], networks, { at: context.doc.locate([...path, 'networks']), keyAt: context.doc.locate([...path, 'networks'], true) });
    note(context, at, `'${alias}' becomes a network alias of '${service}': every service on its networks reaches it by that name`);
  }
}

/**
 * Compose lets any number of containers mount a volume read-write; Capstan's volumes have one
 * writer unless `shared`. Keeping the file's meaning, a volume several containers write is shared.
 */
function sharedVolumes(context: ConvertContext): void {
  for (const [volume, writers] of context.writers) {
    const native = context.doc.get(['volumes', volume]);
    if (native === null || typeof native !== 'object' || 'shared' in native) continue;
    const services = [...new Set(writers.map((writer) => writer.service))];
    const replicas = services.reduce((count, service) => count + replicaCount(context, service), 0);
    if (replicas <= 1) continue;
    context.doc.set(['volumes', volume, 'shared'], true, { at: writers[1]?.at ?? writers[0].at });
    const who = services.length > 1 ? `services ${services.join(', ')}` : `the ${replicas} replicas of ${services[0]}`;
    note(context, writers[0].at, `volume '${volume}' is written by ${who}: marked shared, as Compose allows (x-capstan: {shared: false} under the volume refuses it)`);
  }
}

function replicaCount(context: ConvertContext, service: string): number {
  const value = context.doc.get(['services', service, 'replicas']);
  const resolved = typeof value === 'string' ? Number(interpolate(value, context.lookup).value) : value;
  return typeof resolved === 'number' && Number.isInteger(resolved) ? resolved : 1;
}

/** Top-level `x-capstan:`: native app fields (`uses`, more `env_files`); env files come after `.env`. */
function extension(context: ConvertContext, tree: LocatedMap): void {
  const fields = expectMap(context, tree.entries.get('x-capstan')?.value, 'x-capstan');
  for (const [key, field] of fields?.entries ?? []) {
    if (key === 'env_files' && field.value.kind === 'seq' && Array.isArray(context.doc.get(['env_files']))) {
      for (const item of field.value.items) context.doc.push(['env_files'], item.kind === 'scalar' ? item.value : null, { at: item.at });
    } else if (key === 'services' || key === 'app') {
      refuse(context, field.keyAt, `${key} in x-capstan; write it in the Compose file itself`);
    } else context.doc.copy([key], field.value, field.keyAt);
    if (key === 'hooks') renameHookServices(context, field);
  }
}

/** A hook job names a Compose service, which may have been given another key (serviceKeys). */
function renameHookServices(context: ConvertContext, hooks: MapEntry): void {
  if (hooks.value.kind !== 'map') return;
  for (const [phase, jobs] of hooks.value.entries) {
    if (jobs.value.kind !== 'seq') continue;
    jobs.value.items.forEach((job, index) => {
      const service = job.kind === 'map' ? job.entries.get('service') : undefined;
      if (service?.value.kind !== 'scalar' || typeof service.value.value !== 'string') return;
      const key = serviceKey(context, service.value.value);
      if (key !== service.value.value) context.doc.set(['hooks', phase, index, 'service'], key, { at: service.value.at, keyAt: service.keyAt });
    });
  }
}

/** `x-capstan:` under a volume or network: native fields such as `shared` or `remove`. */
function copyExtension(context: ConvertContext, path: (string | number)[], map: LocatedMap): void {
  const fields = expectMap(context, map.entries.get('x-capstan')?.value, 'x-capstan');
  for (const [key, field] of fields?.entries ?? []) context.doc.copy([...path, key], field.value, field.keyAt);
}
