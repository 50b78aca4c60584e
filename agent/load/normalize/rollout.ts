import type { Static } from '@sinclair/typebox';
import { DEFAULT_UPDATE, type HealthcheckSpec, type UpdateSpec } from '../../model.js';
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
