// Which networks the desired state needs and which of them each service joins, with the DNS
// names it answers to there. Pure, so the planner and the container spec agree on it.
//
//   <app>_default          every service of the app with egress, aliases `<service>` and `<service>.<app>`
//   <app>_internal         (internal) when a service of the app has egress: false, or a consumer
//                          without egress uses the app: then every networked service joins it
//   <app>.<service>.grant  (internal) when a consumer uses `app/service`: that service only
//   <app>_<network>        each network the app declares (Compose's networks): the services that
//                          list it, with their aliases; a service listing networks is on `default`
//                          only if it lists `default`
//
// A consumer joins the provider's network without aliases of its own: providers do not call
// their consumers. Grant networks are internal, so a grant never gives a way out either.
import type { DesiredState, IpamSpec, Service } from '../model.js';
import { appNetworkName, declaredNetworkName, grantNetworkName, internalNetworkName } from '../names.js';

export interface NetworkSpec {
  name: string;
  /** The app whose network it is (the provider, for a grant network). */
  app: string;
  internal: boolean;
  /** For a grant network, the provider service. */
  service?: string;
  ipam?: IpamSpec;
  /** The manifest that declares it, for problems about its ipam. */
  file?: string;
}

export interface EndpointSpec {
  network: string;
  aliases: string[];
  /** A fixed address on the network (Compose's `ipv4_address`). */
  ipv4Address?: string;
}

/** A network the manifest says exists on the host (`external: true`): joined, never created or removed. */
export interface ExternalNetworkSpec {
  /** The Docker network's name. */
  name: string;
  app: string;
  file: string;
  line: number;
  key: string;
  /** Compose's `name:` without `external`: created, without Capstan's ownership labels, when the host lacks it. */
  create?: true;
}

export interface NetworkLayout {
  /** Sorted by name; the networks Capstan creates and owns. */
  networks: NetworkSpec[];
  /** Sorted by name. */
  external: ExternalNetworkSpec[];
  /** The service's networks, its own app's first (the one it is created on); empty without any. */
  endpoints(app: string, service: string): EndpointSpec[];
}

function isNetworked(service: Service): boolean {
  return service.networkMode === undefined;
}

export function networkLayout(desired: DesiredState): NetworkLayout {
  const internalApps = new Set<string>();
  const grants = new Set<string>();
  const services = new Map<string, Service>();
  for (const app of desired.apps) {
    for (const service of app.services) {
      services.set(`${app.name}/${service.name}`, service);
      if (!isNetworked(service)) continue;
      if (service.egress === false) internalApps.add(app.name);
      for (const grant of service.uses ?? []) {
        if (grant.service !== undefined) grants.add(`${grant.app}/${grant.service}`);
        else if (service.egress === false) internalApps.add(grant.app);
      }
    }
  }
  const networks: NetworkSpec[] = [];
  const external: ExternalNetworkSpec[] = [];
  const dockerNames = new Map<string, string>();
  for (const app of desired.apps) {
    for (const declared of app.networks ?? []) dockerNames.set(`${app.name}/${declared.name}`, declared.external?.dockerName ?? declaredNetworkName(app.name, declared.name));
  }
  for (const app of desired.apps) {
    networks.push({ name: appNetworkName(app.name), app: app.name, internal: false });
    if (internalApps.has(app.name)) networks.push({ name: internalNetworkName(app.name), app: app.name, internal: true });
    for (const declared of app.networks ?? []) {
      if (declared.external) {
        const spec: ExternalNetworkSpec = { name: declared.external.dockerName, app: app.name, file: app.source.file, line: declared.external.line, key: `networks.${declared.name}.${declared.external.create ? 'name' : 'external'}` };
        if (declared.external.create) spec.create = true;
        external.push(spec);
        continue;
      }
      const network: NetworkSpec = { name: declaredNetworkName(app.name, declared.name), app: app.name, internal: declared.internal };
      if (declared.ipam) Object.assign(network, { ipam: declared.ipam, file: app.source.file });
      networks.push(network);
    }
  }
  for (const key of grants) {
    const [app, service] = key.split('/');
    networks.push({ name: grantNetworkName(app, service), app, service, internal: true });
  }
  networks.sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));

  const endpoints = (app: string, name: string): EndpointSpec[] => {
    const service = services.get(`${app}/${name}`);
    if (!service || !isNetworked(service)) return [];
    const aliases = [name, `${name}.${app}`];
    const own: EndpointSpec[] = [];
    if (service.networks) {
      for (const joined of service.networks) {
        const network = joined.network === 'default' ? appNetworkName(app) : (dockerNames.get(`${app}/${joined.network}`) ?? declaredNetworkName(app, joined.network));
        const endpoint: EndpointSpec = { network, aliases: [...aliases, ...joined.aliases] };
        if (joined.ipv4Address !== undefined) endpoint.ipv4Address = joined.ipv4Address;
        own.push(endpoint);
      }
    } else if (service.egress !== false) own.push({ network: appNetworkName(app), aliases });
    if (internalApps.has(app)) own.push({ network: internalNetworkName(app), aliases });
    if (grants.has(`${app}/${name}`)) own.push({ network: grantNetworkName(app, name), aliases });
    const granted = (service.uses ?? []).map((grant) => {
      if (grant.service !== undefined) return { network: grantNetworkName(grant.app, grant.service), aliases: [] };
      return { network: service.egress === false ? internalNetworkName(grant.app) : appNetworkName(grant.app), aliases: [] };
    });
    granted.sort((left, right) => (left.network < right.network ? -1 : 1));
    return [...own, ...granted];
  };
  external.sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));
  return { networks, external, endpoints };
}
