// What `${VAR}` resolves from, in layers: the first layer that defines a name wins. For a manifest
// the layers are its own `env_files` (the last listed first, as a later Compose env_file wins),
// then the repository default `capstan.env`, then the loader's injected lookup (tests; the agent
// injects none). The agent's process environment is deliberately not a layer: the host's
// environment must not change what a commit means.
import type { EnvFileRead, EnvFileVariables } from './env-files.js';
import type { Lookup } from './interpolate.js';

export interface Variables {
  lookup: Lookup;
  /** The name resolves to a stand-in (env file read unchecked): what it produces is not checked. */
  isOpaque(name: string): boolean;
  /** An env file that should be a layer failed: an undefined variable would only echo its problem. */
  incomplete: boolean;
}

export function layerVariables(reads: (EnvFileRead | undefined)[], fallback: Lookup): Variables {
  const layers: EnvFileVariables[] = [];
  let incomplete = false;
  for (const read of reads) {
    if (read === undefined) continue;
    if ('failed' in read) incomplete = true;
    else layers.push(read.variables);
  }
  const layerOf = (name: string) => layers.find((layer) => layer.values.has(name));
  return {
    lookup: (name) => {
      const layer = layerOf(name);
      return layer ? layer.values.get(name) : fallback(name);
    },
    isOpaque: (name) => layerOf(name)?.opaque ?? false,
    incomplete,
  };
}

/** A service's environment from its env files, a later file winning; `environment:` goes on top. */
export function envFileEnvironment(reads: EnvFileVariables[]): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const read of reads) for (const [name, value] of read.values) environment[name] = value;
  return environment;
}
