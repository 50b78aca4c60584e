// One service's image update as the records say it, decided with no I/O: what runs, what the
// registry serves, whether this cycle rolls it out. Light on imports, so `status` can use it.
import type { ImageUpdatePolicy, Service } from '../model.js';
import type { ImageUpdateRow } from './store.js';

export interface ImageRef {
  tag: string;
  digest: string;
}

/** What runs: `pinned` as `repo@digest`; else the manifest's image, which is that digest here. */
export interface RunningRef extends ImageRef {
  pinned: boolean;
}

/** One service with a policy, as a cycle resolved it. */
export interface ImageResolution {
  app: string;
  service: string;
  /** The manifest's image. */
  image: string;
  policy: string;
  mode: 'deploy' | 'notify';
  /** What the service runs: an update rolled out before, or null for the manifest's image. */
  running: RunningRef | null;
  /** What the registry serves for the policy, when it differs from what runs. */
  available: ImageRef | null;
  /** This desired state rolls `available` out. */
  rollingOut: boolean;
  /** `available` failed before and is quarantined for this service. */
  quarantined: boolean;
  checkedAt: string | null;
  checkError: string | null;
}

/** `digest`, `semver ^2.3`, `semver ^2.3 +prereleases`: the policy as recorded and shown. */
export function policyText(policy: ImageUpdatePolicy): string {
  if (policy.follow.kind === 'digest') return 'digest';
  return `semver ${policy.follow.range}${policy.follow.prereleases ? ' +prereleases' : ''}`;
}

export function refText(ref: ImageRef): string {
  return `${ref.tag}@${ref.digest}`;
}

/** Pure: one service's resolution from its record. */
export function decide(service: Service, policy: ImageUpdatePolicy, row: ImageUpdateRow | undefined, isQuarantined: (digest: string) => boolean, candidates: boolean): ImageResolution {
  const text = policyText(policy);
  // A record of another image or policy (the manifest changed it) no longer says what to run.
  const current = row !== undefined && row.image === service.image && row.policy === text;
  const running = current && row.deployedTag !== null && row.deployedDigest !== null ? { tag: row.deployedTag, digest: row.deployedDigest, pinned: row.pinned } : null;
  const served = current && row.availableTag !== null && row.availableDigest !== null ? { tag: row.availableTag, digest: row.availableDigest } : null;
  const available = served && served.digest !== running?.digest ? served : null;
  const quarantined = available !== null && isQuarantined(available.digest);
  return {
    app: service.app,
    service: service.name,
    image: service.image,
    policy: text,
    mode: policy.mode,
    running,
    available,
    rollingOut: candidates && available !== null && !quarantined && policy.mode === 'deploy',
    quarantined,
    checkedAt: current ? row.checkedAt : null,
    checkError: current ? row.checkError : null,
  };
}

/** `running 2.3.1, 2.4.0 available`, as `plan` and `status` say it. */
export function describeResolution(resolution: ImageResolution): string {
  const running = resolution.running ? shortRef(resolution.running, resolution.policy) : tagOfImage(resolution.image);
  const parts = [`running ${running}`];
  if (resolution.available) {
    const what = shortRef(resolution.available, resolution.policy);
    parts.push(resolution.quarantined ? `${what} quarantined (its rollout failed)` : resolution.rollingOut ? `${what} rolling out` : `${what} available`);
  }
  if (resolution.checkError) parts.push(`last check failed: ${resolution.checkError}`);
  else if (!resolution.checkedAt) parts.push('not checked yet');
  return `${parts.join(', ')} (${resolution.policy}, ${resolution.mode})`;
}

function shortRef(ref: ImageRef, policy: string): string {
  return policy === 'digest' ? `${ref.tag}@${ref.digest.slice(0, 19)}` : ref.tag;
}

/** The tag a manifest image names (`latest` when none). */
export function tagOfImage(image: string): string {
  const name = image.split('@')[0];
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(colon + 1) : 'latest';
}

/** A record as `status` shows it, without the manifest: the record holds the image and policy it followed. */
export function resolutionOfRow(row: ImageUpdateRow, isQuarantined: (digest: string) => boolean): ImageResolution {
  const running = row.deployedTag !== null && row.deployedDigest !== null ? { tag: row.deployedTag, digest: row.deployedDigest, pinned: row.pinned } : null;
  const served = row.availableTag !== null && row.availableDigest !== null ? { tag: row.availableTag, digest: row.availableDigest } : null;
  const available = served && served.digest !== running?.digest ? served : null;
  return {
    app: row.app,
    service: row.service,
    image: row.image,
    policy: row.policy,
    mode: row.mode,
    running,
    available,
    rollingOut: false,
    quarantined: available !== null && isQuarantined(available.digest),
    checkedAt: row.checkedAt,
    checkError: row.checkError,
  };
}
