import type { Static } from '@sinclair/typebox';
import validRange from 'semver/ranges/valid.js';
import { DEFAULT_UPDATE, type HealthcheckSpec, type ImageUpdatePolicy, type UpdateSpec } from '../../model.js';
import type { KeyPath, PathProblem } from '../problems.js';
import type { Healthcheck, Update } from '../schema/rollout.js';

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001, ns: 0.000001 };

/** `1m30s` → 90000. The schema has already checked the syntax. */
export function durationMs(text: string): number {
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(h|ms|m|s|us|ns)/g)) total += Number(amount) * UNIT_MS[unit];
  return Math.round(total);
}

export function normalizeHealthcheck(spec: Static<typeof Healthcheck> | undefined): HealthcheckSpec | undefined {
  if (!spec) return undefined;
  if (spec.disable) return { test: ['NONE'] };
  if (spec.test === undefined) return undefined;
  const test = typeof spec.test === 'string' ? ['CMD-SHELL', spec.test] : spec.test;
  const healthcheck: HealthcheckSpec = { test };
  if (spec.interval !== undefined) healthcheck.intervalMs = durationMs(spec.interval);
  if (spec.timeout !== undefined) healthcheck.timeoutMs = durationMs(spec.timeout);
  if (spec.retries !== undefined) healthcheck.retries = spec.retries;
  if (spec.start_period !== undefined) healthcheck.startPeriodMs = durationMs(spec.start_period);
  return healthcheck;
}

export function normalizeUpdate(spec: Static<typeof Update> | undefined): UpdateSpec | undefined {
  if (!spec) return undefined;
  return {
    order: spec.order ?? DEFAULT_UPDATE.order,
    parallelism: spec.parallelism ?? DEFAULT_UPDATE.parallelism,
    delayMs: spec.delay !== undefined ? durationMs(spec.delay) : DEFAULT_UPDATE.delayMs,
    monitorMs: spec.monitor !== undefined ? durationMs(spec.monitor) : DEFAULT_UPDATE.monitorMs,
    failureAction: spec.failure_action ?? DEFAULT_UPDATE.failureAction,
    progressDeadlineMs: spec.progress_deadline !== undefined ? durationMs(spec.progress_deadline) : DEFAULT_UPDATE.progressDeadlineMs,
  };
}

/** The shortest check interval a manifest may ask for: registries rate-limit, and a cycle is a minute. */
const MIN_IMAGE_UPDATE_INTERVAL_MS = 1_000;

/**
 * `update: {image, mode, interval}` → the policy, or undefined with a problem naming the key.
 * `mode` or `interval` without `image` are refused, so a policy is never half-written.
 */
export function normalizeImageUpdate(
  spec: Static<typeof Update> | undefined,
  service: { image?: string; build?: unknown },
  path: KeyPath,
  problems: PathProblem[],
): ImageUpdatePolicy | undefined {
  if (!spec) return undefined;
  const updatePath = [...path, 'update'];
  if (spec.image === undefined) {
    if (spec.mode !== undefined) problems.push({ code: 'IMAGE_UPDATE_INVALID', path: [...updatePath, 'mode'], message: 'mode applies to image updates: add image: digest or image: {semver: "^1.2"}' });
    if (spec.interval !== undefined) problems.push({ code: 'IMAGE_UPDATE_INVALID', path: [...updatePath, 'interval'], message: 'interval applies to image updates: add image: digest or image: {semver: "^1.2"}' });
    return undefined;
  }
  if (service.build !== undefined || service.image === undefined) {
    problems.push({ code: 'IMAGE_UPDATE_INVALID', path: [...updatePath, 'image'], message: 'a built image is not in a registry; image updates need image: (a registry reference)' });
    return undefined;
  }
  if (service.image.includes('@')) {
    problems.push({ code: 'IMAGE_UPDATE_INVALID', path: [...updatePath, 'image'], message: `image ${service.image} is pinned by digest and cannot follow updates; name a tag (repo:tag)` });
    return undefined;
  }
  let follow: ImageUpdatePolicy['follow'] = { kind: 'digest' };
  if (typeof spec.image === 'object') {
    const range = validRange(spec.image.semver, { loose: false });
    if (range === null) {
      problems.push({ code: 'IMAGE_UPDATE_INVALID', path: [...updatePath, 'image', 'semver'], message: `'${spec.image.semver}' is not a semver range; write one such as ^2.3, ~1.25 or >=1.2 <2` });
      return undefined;
    }
    follow = { kind: 'semver', range: spec.image.semver, prereleases: spec.image.prereleases ?? false };
  }
  const policy: ImageUpdatePolicy = { follow, mode: spec.mode ?? 'deploy' };
  if (spec.interval !== undefined) {
    const intervalMs = durationMs(spec.interval);
    if (intervalMs < MIN_IMAGE_UPDATE_INTERVAL_MS) {
      problems.push({ code: 'IMAGE_UPDATE_INVALID', path: [...updatePath, 'interval'], message: `interval ${spec.interval} is shorter than 1s` });
      return undefined;
    }
    policy.intervalMs = intervalMs;
  }
  return policy;
}
