// Fleet mode's placement: which nodes run an app or a service. Imported by schema.ts.
import { Type } from '@sinclair/typebox';
import { LIMITS } from './patterns.js';

export const Placement = Type.Object(
  {
    nodes: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: LIMITS.list, description: 'Node names (each agent\'s `--node`) that may run it; any one of them.' }),
    ),
    labels: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Type.String({ description: 'The value the node\'s label must have.' }), {
        minProperties: 1,
        maxProperties: LIMITS.list,
        additionalProperties: false,
        description: 'Node labels (each agent\'s `--node-labels`) a node must all carry, e.g. `{ role: edge }`.',
      }),
    ),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    description:
      'Fleet mode: the nodes that run this, by name and/or labels (both must match when both are given). A service\'s placement replaces its app\'s; without either, every node runs it (or none, if the repository\'s `capstan.yaml` says `placement: { default: nowhere }`). With `--target swarm` it becomes Swarm placement constraints.',
  },
);

/** `capstan.yaml` at the root of the manifests path: settings for the whole repository. */
export const RepositorySettings = Type.Object(
  {
    placement: Type.Optional(
      Type.Object(
        {
          default: Type.Unsafe<'everywhere' | 'nowhere'>({
            type: 'string',
            enum: ['everywhere', 'nowhere'],
            description: '`everywhere` (the default): an app or service without `placement` runs on every node. `nowhere`: it runs on no node until placed.',
          }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, description: 'Repository-wide settings, in `capstan.yaml` at the root of the manifests path.' },
);
