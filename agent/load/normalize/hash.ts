// The config hash decides drift: a container whose `capstan.config-hash` label differs from the
// desired service's hash is replaced (compose's hash.go). It covers the normalized service except
// `replicas` (scaling must not recreate containers), `update` (how to roll out is not what runs),
// `imageUpdate` (the image it resolves to is in `image`), `source` (moving a manifest changes nothing that runs), `uses` (grants are joined and left on
// the running containers), `dependsOn` (order of creation only), `build` (the image tag already
// covers what is built) and the absolute path of repository bind mounts, which differs per
// checkout; their repository path and content digest stand in for it. A sidecar's hash also
// covers its parent's, so replacing the parent replaces the sidecar, whose network namespace
// was the old parent's.
// HMAC rather than a plain digest: the label is readable by anyone who can list containers, and
// the hashed environment holds secrets, so without the key a guessed value cannot be confirmed.
import { createHmac } from 'node:crypto';
import type { MountSpec } from '../../model.js';
import type { ServiceDraft } from './draft.js';

/** JSON with object keys sorted at every level and `undefined` members left out. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

function hashedMount(mount: MountSpec): unknown {
  if (mount.type !== 'bind' || !mount.repo) return mount;
  const { source: _absolutePath, ...rest } = mount;
  return rest;
}

/** What the hash covers; accepts a finished Service too, whose own `configHash` is left out. */
export function hashInput(service: ServiceDraft & { configHash?: string }): unknown {
  const {
    replicas: _replicas,
    update: _update,
    // The policy is not what runs; the image it resolves to is, in `image`.
    imageUpdate: _imageUpdate,
    // Where a service runs is not what runs: moving it between nodes replaces nothing that stays.
    placement: _placement,
    source: _source,
    configHash: _configHash,
    uses: _uses,
    dependsOn: _dependsOn,
    build: _build,
    // When a scheduled job runs is not what runs: a changed schedule is only recorded.
    job: _job,
    ...hashed
  } = service;
  return { ...hashed, mounts: service.mounts.map(hashedMount) };
}

/** Hex HMAC-SHA256 of the canonical hash input; `parentHash` for a sidecar (network_mode: service:). */
export function configHash(service: ServiceDraft, hashKey: Uint8Array, parentHash?: string): string {
  const input = parentHash === undefined ? hashInput(service) : { service: hashInput(service), parent: parentHash };
  return createHmac('sha256', hashKey).update(canonicalJson(input)).digest('hex');
}

/** The app's hook jobs as one HMAC (their environment may hold secrets): a changed job is a change to roll out. */
export function hooksHash(hooks: unknown, hashKey: Uint8Array): string {
  return createHmac('sha256', hashKey).update(canonicalJson(hooks)).digest('hex');
}

/** Every service's config hash, parents before their sidecars (whose hash covers the parent's). */
export function hashServices<T extends ServiceDraft>(drafts: T[], hashKey: Uint8Array): (T & { configHash: string })[] {
  const hashes = new Map<string, string>();
  for (const draft of drafts) if (draft.networkMode?.kind !== 'service') hashes.set(draft.name, configHash(draft, hashKey));
  return drafts.map((draft) => {
    if (draft.networkMode?.kind !== 'service') return { ...draft, configHash: hashes.get(draft.name)! };
    return { ...draft, configHash: configHash(draft, hashKey, hashes.get(draft.networkMode.service) ?? '') };
  });
}
