// Which tag a `semver` policy follows, decided with no I/O. Tags that are not semver versions
// (`latest`, `2.4`, `alpine`, `2.4.0-alpine` unless pre-releases are asked for) are ignored, as
// Flux's image policies ignore them; a leading `v` is accepted (`v2.4.0`).
// The functions one by one: semver's index loads all of its 47 modules, a tenth of what
// `capstan once` loads at start (BENCHMARKS.md figure 2).
import type SemVer from 'semver/classes/semver.js';
import compare from 'semver/functions/compare.js';
import gt from 'semver/functions/gt.js';
import parse from 'semver/functions/parse.js';
import satisfies from 'semver/functions/satisfies.js';

export interface SemverPolicy {
  range: string;
  /** Consider pre-release versions (`2.4.0-rc.1`) too. */
  prereleases: boolean;
}

/** The tag of the highest version satisfying the range, skipping `excluded` tags (quarantined); undefined if none. */
export function newestMatching(tags: readonly string[], policy: SemverPolicy, excluded: ReadonlySet<string> = new Set()): string | undefined {
  const options = { includePrerelease: policy.prereleases };
  let best: { tag: string; version: SemVer } | undefined;
  for (const tag of tags) {
    if (excluded.has(tag)) continue;
    const version = semverOfTag(tag);
    if (!version) continue;
    if (!policy.prereleases && version.prerelease.length > 0) continue;
    if (!satisfies(version, policy.range, options)) continue;
    const order = best ? compare(version, best.version) : 1;
    // Two tags of one version (`2.4.0`, `v2.4.0`): the one without `v`, so the choice is stable.
    if (order > 0 || (order === 0 && best && tag.length < best.tag.length)) best = { tag, version };
  }
  return best?.tag;
}

/** The version a tag names, or undefined when it is not a full semver version. */
export function semverOfTag(tag: string): SemVer | undefined {
  if (tag.length > 128) return undefined;
  const text = tag.startsWith('v') ? tag.slice(1) : tag;
  // Not loose: `2.4` and `=2.4.0` are not versions; build metadata cannot be in a Docker tag anyway.
  return parse(text) ?? undefined;
}

/** Whether `candidate` is a higher version than `current` (a tag that is not a version is lower than any). */
export function isNewer(candidate: string, current: string): boolean {
  const next = semverOfTag(candidate);
  const now = semverOfTag(current);
  if (!next) return false;
  return now === undefined || gt(next, now);
}
