// How Docker and Compose spell two kinds of values that the loader (normalize/) and the host
// policy (policy/) both read, so that each compares them one way: byte sizes (`512m`) and
// security options (`name=value` or `name:value`). Pure.

const BYTE_UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `512m` → 536870912, `1.5g` → 1610612736, `64` → 64. The schema has checked the syntax. */
export function byteSize(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = /^([0-9]+(?:\.[0-9]+)?)\s*([bkmgt])?/i.exec(value.trim());
  if (!match) return Number.NaN;
  return Math.round(Number(match[1]) * BYTE_UNITS[(match[2] ?? 'b').toLowerCase()]);
}

/**
 * Docker reads `name=value` and `name:value` alike; written one way, as `name=value`, the hash
 * does not change with the spelling. A bare `no-new-privileges` means `no-new-privileges=true`.
 */
export function securityOption(option: string): string {
  const trimmed = option.trim();
  if (trimmed === 'no-new-privileges') return 'no-new-privileges=true';
  const equals = trimmed.indexOf('=');
  const colon = trimmed.indexOf(':');
  if (equals < 0 && colon >= 0) return `${trimmed.slice(0, colon)}=${trimmed.slice(colon + 1)}`;
  return trimmed;
}
