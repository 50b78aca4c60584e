// A service's lifecycle hooks, as Compose spells them (`post_start`, `pre_stop`, compose-go's
// ServiceHook): commands run with `docker exec` in each replica after Capstan starts it or before
// Capstan stops it. Spread into the service schema (schema.ts).
import { Type } from '@sinclair/typebox';
import { LIMITS, VARIABLE_NAME_PATTERN } from './patterns.js';

/** Hooks of one kind of one service: a handful in practice; the bound keeps a start from running thousands of execs. */
export const MAX_LIFECYCLE_HOOKS = 100;

const HookEnvironment = Type.Union(
  [
    Type.Record(
      Type.String({ pattern: VARIABLE_NAME_PATTERN }),
      Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()], { description: 'A string; numbers and booleans are converted to strings, and an empty value (null) to the empty string.' }),
      {
        additionalProperties: false,
        maxProperties: LIMITS.map,
      },
    ),
    Type.Array(Type.String(), { maxItems: LIMITS.map, description: '`KEY=VALUE` items; `KEY` alone means an empty value.' }),
  ],
  {
    description:
      'Variables set for the command only, over the container\'s own environment (a map or a list of `KEY=VALUE`). Values may use `${VAR}` placeholders; they are never printed.',
  },
);

export const LifecycleHook = Type.Object(
  {
    command: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String(), { minItems: 1, maxItems: LIMITS.list })], {
      description: 'The command: a list, or a string split like a shell does (quotes and backslashes, no expansion or operators; use `[sh, -c, "…"]` for a shell).',
    }),
    user: Type.Optional(Type.String({ minLength: 1, description: 'User (`name`, `uid`, `uid:gid`) the command runs as; default the container\'s own.' })),
    privileged: Type.Optional(Type.Boolean({ description: 'Run the command with extended privileges (refused unless the host policy sets `allow_privileged`).' })),
    working_dir: Type.Optional(Type.String({ pattern: '^/', description: 'Folder the command runs in; default the container\'s own.' })),
    environment: Type.Optional(HookEnvironment),
  },
  { additionalProperties: false, description: 'A command run in the container with `docker exec`, as Compose\'s lifecycle hooks.' },
);

export const lifecycleFields = {
  post_start: Type.Optional(
    Type.Array(LifecycleHook, {
      maxItems: MAX_LIFECYCLE_HOOKS,
      description:
        'Commands run in each replica, one after the other, after every start Capstan makes (first deploy, replacement, drift repair, restart), as Compose\'s `post_start`; not after restarts Docker makes by the restart policy. The replica counts as ready only once they all exited 0: one that fails or outlasts `update.progress_deadline` fails the start, so a rollout rolls back as for a replica that never gets ready. Its output is logged, redacted. Delivered at least once: when the agent was killed before a new replica\'s hooks finished, the next cycle runs them again in that replica before watching it.',
    }),
  ),
  pre_stop: Type.Optional(
    Type.Array(LifecycleHook, {
      maxItems: MAX_LIFECYCLE_HOOKS,
      description:
        'Commands run in each running replica, one after the other, before Capstan stops it (replacement, scale-down, restart), as Compose\'s `pre_stop`, together bounded by the stop grace period (`stop_grace_period`, default 10s). A failure or timeout is logged and the stop goes on. Not run for a service or app removed from the repository (its hooks went with it), as Compose runs none for orphans.',
    }),
  ),
};
