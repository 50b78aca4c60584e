// The rollout part of the service schema: Compose's `healthcheck` and Swarm's update_config
// (as `update`), plus Kubernetes' progress deadline. Imported by schema.ts.
import { Type } from '@sinclair/typebox';
import { DURATION_PATTERN, LIMITS } from './patterns.js';

/** Go-style durations as Compose writes them: `1m30s`, `10s`, `500ms`. */
const Duration = (description: string) => Type.String({ pattern: DURATION_PATTERN, description });

export const Healthcheck = Type.Object(
  {
    test: Type.Optional(
      Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1, maxItems: LIMITS.list })], {
        description:
          'The check, as in Compose: a string runs through the container\'s shell (`CMD-SHELL`); a list starts with `CMD` (exec), `CMD-SHELL`, or is `["NONE"]` to disable the image\'s own check.',
      }),
    ),
    interval: Type.Optional(Duration('Time between checks (default 30s).')),
    timeout: Type.Optional(Duration('Time a check may take before it counts as failed (default 30s).')),
    retries: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.integer, description: 'Consecutive failures that make the container unhealthy (default 3).' })),
    start_period: Type.Optional(Duration('Start-up time during which failures do not count (default 0s).')),
    disable: Type.Optional(Type.Boolean({ description: 'Disable any healthcheck, including the image\'s own.' })),
  },
  {
    additionalProperties: false,
    description: 'Health check run by Docker. A service with one is ready only once Docker reports it healthy; a rollout waits for that.',
  },
);

export const Update = Type.Object(
  {
    order: Type.Optional(
      Type.Unsafe<'start-first' | 'stop-first'>({
        type: 'string',
        enum: ['start-first', 'stop-first'],
        default: 'start-first',
        description:
          '`start-first`: a new replica must be ready before an old one stops (no downtime). `stop-first`: for services that cannot run twice, such as one writer on a volume. A service publishing a fixed host port always rolls out stop-first, and `plan` says so.',
      }),
    ),
    parallelism: Type.Optional(Type.Integer({ minimum: 0, maximum: LIMITS.replicas, default: 1, description: 'Replicas replaced at once; 0 replaces all at once.' })),
    delay: Type.Optional(Duration('Pause between batches of replicas (default 0s).')),
    monitor: Type.Optional(Duration('Without a healthcheck, how long a new replica must keep running to count as ready (default 5s).')),
    failure_action: Type.Optional(
      Type.Unsafe<'rollback' | 'pause'>({
        type: 'string',
        enum: ['rollback', 'pause'],
        default: 'rollback',
        description:
          'When a new replica fails (exits, turns unhealthy or misses the deadline): `rollback` returns the whole commit to the last applied one; `pause` leaves things as they are. Either way the commit is quarantined until a new one arrives.',
      }),
    ),
    progress_deadline: Type.Optional(Duration('A new replica not ready within this long has failed (default 2m).')),
    image: Type.Optional(
      Type.Union(
        [
          Type.Literal('digest', { description: 'Follow the tag\'s digest: when the registry serves a new digest for the same tag, roll it out.' }),
          Type.Object(
            {
              semver: Type.String({
                minLength: 1,
                maxLength: 256,
                description: 'A semver range (`^2.3`, `~1.25`, `>=1.2 <2`): follow the newest tag in the registry that satisfies it. Tags that are not semver versions are ignored.',
              }),
              prereleases: Type.Optional(Type.Boolean({ default: false, description: 'Also consider pre-release tags (`2.4.0-rc.1`).' })),
            },
            { additionalProperties: false },
          ),
        ],
        {
          description:
            'Image update automation: check the registry (manifest HEAD requests, tag listings) and roll out a new digest or a newer version through the same health-gated rollout. A failed one is rolled back and quarantined for this service. Removing it returns the service to the image the manifest names.',
        },
      ),
    ),
    mode: Type.Optional(
      Type.Unsafe<'deploy' | 'notify'>({
        type: 'string',
        enum: ['deploy', 'notify'],
        default: 'deploy',
        description: 'With `image`: `deploy` rolls an update out; `notify` only reports it (`status`, `plan`, metrics, notifications) and changes nothing.',
      }),
    ),
    interval: Type.Optional(Duration('With `image`: how often the registry is checked for this service (default: the host\'s `--image-update-interval`, 6h).')),
  },
  { additionalProperties: false, description: 'How a changed service is rolled out, and whether its image follows the registry (`image`). Changing these settings replaces no container.' },
);
