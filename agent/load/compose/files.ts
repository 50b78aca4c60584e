// Which files of a folder make it a Compose project, in Compose's own order of preference.
// A folder holding one of them is one app: its other YAML files are not Capstan manifests.

export const COMPOSE_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'] as const;
export const OVERRIDE_FILES = ['compose.override.yaml', 'compose.override.yml', 'docker-compose.override.yaml', 'docker-compose.override.yml'] as const;

export function isComposeFile(name: string): boolean {
  return (COMPOSE_FILES as readonly string[]).includes(name) || (OVERRIDE_FILES as readonly string[]).includes(name);
}

export interface ComposeFiles {
  main?: string;
  override?: string;
  /** Compose files present but not read, because a preferred one is there too. */
  ignored: string[];
}

/** Compose reads the first file it finds, and the override file beside it. */
export function pickComposeFiles(names: string[]): ComposeFiles {
  const present = new Set(names);
  const mains = COMPOSE_FILES.filter((name) => present.has(name));
  const overrides = OVERRIDE_FILES.filter((name) => present.has(name));
  return { main: mains[0], override: overrides[0], ignored: [...mains.slice(1), ...overrides.slice(1)] };
}
