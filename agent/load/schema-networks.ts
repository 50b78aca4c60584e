// Networks within one app, as Compose has them: the app declares networks besides `default`, and
// each service lists the ones it joins, with extra DNS names (aliases). Services reach each other
// only on networks they share; between apps, only grants (`uses`) open a way.
import { Type } from '@sinclair/typebox';
import { ALIAS_PATTERN, NETWORK_NAME_PATTERN, LIMITS } from './schema-patterns.js';

export const AppNetwork = Type.Union(
  [
    Type.Object(
      {
        internal: Type.Optional(
          Type.Boolean({ default: false, description: 'No route out of the host: the services on it reach each other and nothing else, and cannot publish ports from it.' }),
        ),
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
      Type.Union([Type.Object({ aliases: Type.Optional(Aliases) }, { additionalProperties: false }), Type.Null()], { description: 'Settings on this network.' }),
      { additionalProperties: false, minProperties: 1, maxProperties: LIMITS.list, description: 'Network names, with aliases.' },
    ),
  ],
  {
    description:
      'Networks of this app the service joins: `default` or ones declared under the top-level `networks`. Left out, the service is on `default` only. Grants of other apps (`uses: [this-app]`) reach the services on `default`.',
  },
);
