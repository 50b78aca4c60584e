// Compose profiles: a service that lists `profiles` runs only when one of them is enabled, and
// Capstan enables them as Compose does with no command line: `COMPOSE_PROFILES` (comma-separated,
// `*` for all) from the folder's `.env` or the repository's `capstan.env`.
import { note, type ConvertContext } from './context.js';
import { text, type LocatedMap } from './located.js';

export interface ProfileSelection {
  active: Set<string>;
  /** Left-out service → why, in words. */
  leftOut: Map<string, string>;
}

export function selectProfiles(context: ConvertContext, services: LocatedMap): ProfileSelection {
  const enabled = new Set(
    (context.lookup('COMPOSE_PROFILES') ?? '')
      .split(',')
      .map((profile) => profile.trim())
      .filter((profile) => profile !== ''),
  );
  const active = new Set<string>();
  const leftOut = new Map<string, string>();
  for (const [name, service] of services.entries) {
    const profiles = service.value.kind === 'map' ? service.value.entries.get('profiles')?.value : undefined;
    const names = profiles?.kind === 'seq' ? profiles.items.map((item) => text(item) ?? '') : [];
    if (names.length === 0 || enabled.has('*') || names.some((profile) => enabled.has(profile))) {
      active.add(name);
      continue;
    }
    const why = `profile${names.length > 1 ? 's' : ''} ${names.join(', ')} not in COMPOSE_PROFILES`;
    leftOut.set(name, why);
    note(context, service.keyAt, `service left out: ${why} (set it in .env to run the service)`);
  }
  return { active, leftOut };
}
