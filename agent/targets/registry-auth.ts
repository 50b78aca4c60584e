// Credentials for a pull, resolved when the pull runs, never stored in the plan: first the
// repository's (capstan.env, see load/variables/registries.ts), then the host's Docker config
// (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, its `auths` entries; credential
// helpers and stores are not run). Nothing here logs or returns a credential except to Docker.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { registryHost, registryKey } from '../load/variables/registries.js';
import type { RegistryCredential } from '../model.js';

export interface AuthConfig {
  username: string;
  password: string;
  serveraddress: string;
}

/** The parsed Docker config file, or undefined when there is none. */
export type DockerConfigReader = () => Promise<unknown>;

export function dockerConfigReader(env: NodeJS.ProcessEnv = process.env): DockerConfigReader {
  const file = join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
  return async () => {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  };
}

/** `https://index.docker.io/v1/` → `docker.io`; `https://ghcr.io` → `ghcr.io`. */
function configKeyHost(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

function fromDockerConfig(config: unknown, host: string): AuthConfig | undefined {
  const auths = (config as { auths?: Record<string, { auth?: string; username?: string; password?: string }> } | undefined)?.auths;
  if (!auths || typeof auths !== 'object') return undefined;
  for (const [key, entry] of Object.entries(auths)) {
    if (configKeyHost(key) !== host || !entry) continue;
    if (entry.username && entry.password) return { username: entry.username, password: entry.password, serveraddress: host };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress: host };
    }
  }
  return undefined;
}

export async function registryAuth(image: string, registries: RegistryCredential[] | undefined, readDockerConfig: DockerConfigReader): Promise<AuthConfig | undefined> {
  const host = registryHost(image);
  const own = registries?.find((credential) => credential.key === registryKey(host));
  if (own) return { username: own.username, password: own.password, serveraddress: host };
  return fromDockerConfig(await readDockerConfig(), host);
}
