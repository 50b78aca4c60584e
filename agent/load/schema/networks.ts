// Networks within one app, as Compose has them: the app declares networks besides `default`, and
// each service lists the ones it joins, with extra DNS names (aliases). Services reach each other
// only on networks they share; between apps, only grants (`uses`) open a way.
import { Type } from '@sinclair/typebox';
import { ALIAS_PATTERN, NETWORK_NAME_PATTERN, LIMITS } from './patterns.js';

const IPV4 = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}';
const IPV4_PATTERN = `^${IPV4}$`;
const CIDR_PATTERN = `^${IPV4}/([0-9]|[12][0-9]|3[0-2])$`;
/** Docker's rule for network names. */
const DOCKER_NETWORK_PATTERN = '^[a-zA-Z0-9][a-zA-Z0-9_.-]*$';

const Ipam = Type.Object(
  {
    driver: Type.Optional(Type.Literal('default', { description: 'Docker\'s own address management, the only one Capstan uses.' })),
    config: Type.Optional(
      Type.Array(
        Type.Object(
          {
            subnet: Type.String({ pattern: CIDR_PATTERN, description: 'The network\'s IPv4 subnet, e.g. `172.28.0.0/16`.' }),
            ip_range: Type.Optional(Type.String({ pattern: CIDR_PATTERN, description: 'Addresses Docker hands out, within the subnet.' })),
            gateway: Type.Optional(Type.String({ pattern: IPV4_PATTERN, description: 'The bridge\'s address in the subnet.' })),
            aux_addresses: Type.Optional(
              Type.Record(Type.String({ minLength: 1 }), Type.String({ pattern: IPV4_PATTERN, description: 'An address in the subnet.' }), { description: 'Addresses Docker must not hand out, by host name.' }),
            ),
          },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: 1, description: 'One IPv4 subnet for the network.' },
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      'A static subnet for the network, as Compose\'s `ipam`. A subnet that overlaps a network the engine already has stops the commit before anything changes. Set when the network is created: changing it later needs the network removed by hand first.',
  },
);

export const AppNetwork = Type.Union(
  [
    Type.Object(
      {
        internal: Type.Optional(
          Type.Boolean({ default: false, description: 'No route out of the host: the services on it reach each other and nothing else, and cannot publish ports from it.' }),
        ),
        external: Type.Optional(
          Type.Boolean({
            default: false,
            description:
              'A network that exists on the host already (made by hand, or by another tool such as a reverse proxy\'s Compose project): the services listing it join it, and Capstan never creates, changes or removes it. A missing one stops the commit before anything changes.',
          }),
        ),
        name: Type.Optional(Type.String({ pattern: DOCKER_NETWORK_PATTERN, description: 'The Docker network\'s name. With `external: true`, the existing network joined, when it is not the key. Without it (Compose\'s way to share a network between projects): the network of that name, created as a plain bridge network when the host lacks it, joined by every app that names it, never changed or removed by Capstan.' })),
        ipam: Type.Optional(Ipam),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  { description: 'A network of the app. An empty entry (`backend:` or `backend: {}`) takes the defaults.' },
);

export const AppNetworks = Type.Record(Type.String({ pattern: NETWORK_NAME_PATTERN }), AppNetwork, {
  additionalProperties: false,
  maxProperties: LIMITS.list,
  description:
    'Networks of the app besides `default`, as in Compose: Docker network `<app>_<network>`. Services reach each other only on networks they share, so a proxy on `frontend` and a database on `backend` never meet. `default` (`<app>_default`) always exists; `internal` is taken by the network of `egress: false`.',
});

const Aliases = Type.Array(Type.String({ pattern: ALIAS_PATTERN }), {
  maxItems: LIMITS.list,
  description: 'More DNS names the service answers to on this network, besides `<service>` and `<service>.<app>`.',
});

export const ServiceNetworks = Type.Union(
  [
    Type.Array(Type.String({ pattern: NETWORK_NAME_PATTERN }), { minItems: 1, maxItems: LIMITS.list, description: 'Network names.' }),
    Type.Record(
      Type.String({ pattern: NETWORK_NAME_PATTERN }),
      Type.Union(
        [
          Type.Object(
            {
              aliases: Type.Optional(Aliases),
              ipv4_address: Type.Optional(Type.String({ pattern: IPV4_PATTERN, description: 'A fixed address on this network, inside its `ipam` subnet; the service then has one replica.' })),
            },
            { additionalProperties: false },
          ),
          Type.Null(),
        ],
        { description: 'Settings on this network.' },
      ),
      { additionalProperties: false, minProperties: 1, maxProperties: LIMITS.list, description: 'Network names, with aliases.' },
    ),
  ],
  {
    description:
      'Networks of this app the service joins: `default` or ones declared under the top-level `networks`. Left out, the service is on `default` only. Grants of other apps (`uses: [this-app]`) reach the services on `default`.',
  },
);
