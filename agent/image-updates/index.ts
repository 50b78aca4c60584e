// Image update automation (issue 17): services with `update.image` follow the registry. The
// stage sits between load and converge: `check` asks the registry what is served now (when a
// service's interval is due; outbound, HEAD and tag lists only), `resolve` turns the records
// into the desired state's images (`repo@sha256:…`, with config hashes recomputed), so an update
// reaches the target as an ordinary image change and takes the same health-gated rollout (and
// whatever gates changed apps). Decisions over the records are pure; the records are in SQLite.
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { hashServices } from '../load/normalize/hash.js';
import type { DesiredState, ImageUpdatePolicy, Service } from '../model.js';
import { registryAuth, type DockerConfigReader } from '../targets/registry-auth.js';
import { imageName, RegistryClient, RegistryError } from './registry.js';
import { isNewer, newestMatching } from './select.js';
import { decide, policyText, refText, type ImageRef, type ImageResolution } from './resolution.js';
import type { ImageUpdateStore } from './store.js';

export { ImageUpdateStore } from './store.js';
export { describeResolution, type ImageResolution } from './resolution.js';

/** A failed check is tried again after this (or the interval, if shorter; or Retry-After, if longer). */
const FAILED_CHECK_RETRY_MS = 5 * 60_000;

export interface ImageUpdatesDeps {
  store: ImageUpdateStore;
  fetch: typeof fetch;
  clock: Clock;
  hashKey: Uint8Array;
  defaultIntervalMs: number;
  readDockerConfig: DockerConfigReader;
  /** The digests the engine knows the image by (its RepoDigests); none when it is not here. */
  localDigests: (image: string) => Promise<string[]>;
}

/** `repo:tag` → `repo` (a port in the host is not a tag). */
export function repositoryOf(image: string): string {
  const at = image.indexOf('@');
  const name = at >= 0 ? image.slice(0, at) : image;
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
}

function withPolicy(desired: DesiredState): Service[] {
  return desired.apps.flatMap((app) => app.services.filter((service) => service.imageUpdate !== undefined));
}

export class ImageUpdates {
  constructor(private readonly deps: ImageUpdatesDeps) {}

  /**
   * Asks the registry for each service whose check is due. Never throws and changes nothing
   * that runs: a registry that is unreachable, refuses or rate-limits leaves the records as
   * they were (and says why in `check_error`). Returns the updates found that were not
   * announced before, for notifications.
   */
  async check(desired: DesiredState, logger: Logger): Promise<ImageResolution[]> {
    const { store, clock } = this.deps;
    const rows = new Map(store.rows().map((row) => [`${row.app}/${row.service}`, row]));
    const now = clock.now();
    for (const service of withPolicy(desired)) {
      const policy = service.imageUpdate!;
      const row = rows.get(`${service.app}/${service.name}`);
      const text = policyText(policy);
      const changed = !row || row.image !== service.image || row.policy !== text;
      if (!changed && row.nextCheckAt !== null && Date.parse(row.nextCheckAt) > now) continue;
      const intervalMs = policy.intervalMs ?? this.deps.defaultIntervalMs;
      const base = { app: service.app, service: service.name, image: service.image, policy: text, mode: policy.mode, checkedAt: new Date(now).toISOString() };
      try {
        const found = await this.ask(service, policy, desired);
        store.recordCheck({ ...base, nextCheckAt: new Date(now + intervalMs).toISOString(), checkError: null, availableTag: found?.tag ?? null, availableDigest: found?.digest ?? null });
        // First check: the manifest's own tag is what runs (no update, no replacement) when the
        // engine has it as this digest, or lacks it and pulls it in this very cycle.
        if (found && (changed || row.deployedDigest === null) && found.tag === imageName(service.image).tag) {
          const local = await this.deps.localDigests(service.image).catch(() => [] as string[]);
          if (local.length === 0 || local.some((reference) => reference.endsWith(`@${found.digest}`))) store.recordBaseline(service.app, service.name, found);
        }
        logger.debug({ app: service.app, service: service.name, tag: found?.tag, digest: found?.digest }, 'registry checked');
      } catch (error) {
        const message = error instanceof RegistryError ? error.message : `registry check failed: ${(error as Error).message}`;
        const retryAfterMs = error instanceof RegistryError ? (error.retryAfterMs ?? 0) : 0;
        const waitMs = Math.max(Math.min(intervalMs, FAILED_CHECK_RETRY_MS), retryAfterMs);
        store.recordCheck({ ...base, nextCheckAt: new Date(now + waitMs).toISOString(), checkError: message, availableTag: null, availableDigest: null });
        logger.warn({ app: service.app, service: service.name, error: message, retryInMs: waitMs }, 'image update check failed, nothing changes');
      }
    }
    const fresh = this.resolutions(desired, false).filter((resolution) => resolution.available && !resolution.quarantined);
    const notified = new Map(store.rows().map((row) => [`${row.app}/${row.service}`, row.notified]));
    const announce = fresh.filter((resolution) => notified.get(`${resolution.app}/${resolution.service}`) !== refText(resolution.available!));
    for (const resolution of announce) store.markNotified(resolution.app, resolution.service, refText(resolution.available!));
    return announce;
  }

  /** What the registry serves for the policy now: the tag's digest, or the newest matching tag's. */
  private async ask(service: Service, policy: ImageUpdatePolicy, desired: DesiredState): Promise<ImageRef | null> {
    const name = imageName(service.image);
    const auth = await registryAuth(service.image, desired.registries, this.deps.readDockerConfig);
    const client = new RegistryClient(name, auth, { fetch: this.deps.fetch, now: () => this.deps.clock.now() });
    if (policy.follow.kind === 'digest') return { tag: name.tag, digest: await client.digest(name.tag) };
    const excluded = new Set(this.deps.store.quarantined().filter((row) => row.app === service.app && row.service === service.name).map((row) => row.tag));
    let tag = newestMatching(await client.tags(), policy.follow, excluded);
    // Never below the version the manifest names.
    if (tag === undefined || isNewer(name.tag, tag)) tag = name.tag;
    return { tag, digest: await client.digest(tag) };
  }

  /**
   * The desired state with each policy's image: what runs already (an update rolled out before,
   * or the manifest's tag as the digest it was found to be), and with `candidates`, the available
   * update too (deploy mode, not quarantined). Config hashes are recomputed for an update, so a
   * changed image is an ordinary change to the planner.
   */
  resolve(desired: DesiredState, options: { candidates: boolean }): { desired: DesiredState; resolutions: ImageResolution[] } {
    const resolutions = this.resolutions(desired, options.candidates);
    if (resolutions.length === 0) return { desired, resolutions };
    const byService = new Map(resolutions.map((resolution) => [`${resolution.app}/${resolution.service}`, resolution]));
    const apps = desired.apps.map((app) => {
      let changed = false;
      // The manifest's tag found to be a digest here (not pinned): created from that digest, so
      // a rollback or a recreated replica never runs what the tag means later, under the tag's
      // own config hash, so the replicas created from the tag are not replaced for it.
      const exact = new Map<string, string>();
      const services = app.services.map((service) => {
        const resolution = byService.get(`${app.name}/${service.name}`);
        const ref = resolution?.rollingOut ? resolution.available : resolution?.running?.pinned ? resolution.running : undefined;
        if (!ref) {
          if (resolution?.running) exact.set(service.name, `${repositoryOf(service.image)}@${resolution.running.digest}`);
          return service;
        }
        changed = true;
        return { ...service, image: `${repositoryOf(service.image)}@${ref.digest}` };
      });
      if (!changed && exact.size === 0) return app;
      const hashed = changed ? hashServices(services, this.deps.hashKey) : services;
      return { ...app, services: hashed.map((service) => (exact.has(service.name) ? { ...service, image: exact.get(service.name)! } : service)) };
    });
    return { desired: { ...desired, apps }, resolutions };
  }

  /** Per service with a policy, from the records: what runs, what is available. */
  resolutions(desired: DesiredState, candidates: boolean): ImageResolution[] {
    const rows = new Map(this.deps.store.rows().map((row) => [`${row.app}/${row.service}`, row]));
    const quarantined = new Set(this.deps.store.quarantined().map((row) => `${row.app}/${row.service}@${row.digest}`));
    return withPolicy(desired).map((service) => {
      const policy = service.imageUpdate!;
      const row = rows.get(`${service.app}/${service.name}`);
      return decide(service, policy, row, (digest) => quarantined.has(`${service.app}/${service.name}@${digest}`), candidates);
    });
  }

  /** After a converged commit: records what each policy's service runs now, and forgets removed policies. */
  recordApplied(resolutions: ImageResolution[]): void {
    this.deps.store.recordApplied(
      resolutions.map((resolution) => ({
        app: resolution.app,
        service: resolution.service,
        image: resolution.image,
        policy: resolution.policy,
        mode: resolution.mode,
        deployed: resolution.rollingOut ? { ...resolution.available!, pinned: true } : resolution.running,
      })),
    );
  }

  /** A rolled-out update failed: never tried again for this service until a newer one appears. */
  quarantine(resolution: ImageResolution, message: string): void {
    if (!resolution.available) return;
    this.deps.store.quarantine({ app: resolution.app, service: resolution.service, tag: resolution.available.tag, digest: resolution.available.digest, message });
  }
}

