// Registry credentials live in the repository's encrypted `capstan.env`, one pair per registry
// host: `REGISTRY_<HOST>_USERNAME` and `REGISTRY_<HOST>_PASSWORD`, where <HOST> is the host of
// the image references (with its port) in upper case, each character other than a letter or a
// digit written `_`: `ghcr.io` → `REGISTRY_GHCR_IO_…`, `127.0.0.1:5000` → `REGISTRY_127_0_0_1_5000_…`,
// Docker Hub → `REGISTRY_DOCKER_IO_…`. The values stay in memory and reach only Docker's pull call.
import type { ManifestProblem } from '../../errors.js';
import type { RegistryCredential } from '../../model.js';

const VARIABLE = /^REGISTRY_([A-Z0-9_]+)_(USERNAME|PASSWORD)$/;

export function registryKey(host: string): string {
  return host.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** The registry host of an image reference, as Docker decides it: `docker.io` unless the first part looks like a host. */
export function registryHost(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = image.slice(0, slash);
  const isHost = first.includes('.') || first.includes(':') || first === 'localhost';
  return isHost ? (first === 'index.docker.io' ? 'docker.io' : first) : 'docker.io';
}

export function registryCredentials(values: ReadonlyMap<string, string>, file: string): { registries: RegistryCredential[]; problems: ManifestProblem[] } {
  const halves = new Map<string, { username?: string; password?: string }>();
  for (const [name, value] of values) {
    const match = VARIABLE.exec(name);
    if (!match) continue;
    const entry = halves.get(match[1]) ?? {};
    if (match[2] === 'USERNAME') entry.username = value;
    else entry.password = value;
    halves.set(match[1], entry);
  }
  const registries: RegistryCredential[] = [];
  const problems: ManifestProblem[] = [];
  for (const [key, { username, password }] of [...halves.entries()].sort(([left], [right]) => (left < right ? -1 : 1))) {
    if (username === undefined || password === undefined) {
      const missing = username === undefined ? 'USERNAME' : 'PASSWORD';
      const message = `registry credentials need both variables: REGISTRY_${key}_${missing} is missing`;
      problems.push({ code: 'REGISTRY_CREDENTIALS_INCOMPLETE', file, line: 0, column: 0, key: `REGISTRY_${key}_${missing}`, message });
      continue;
    }
    registries.push({ key, username, password });
  }
  return { registries, problems };
}
