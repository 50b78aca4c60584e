// Restic repositories, named in the host configuration (the policy file's `repositories:`),
// never in git: where snapshots go and the credentials to reach them. A manifest only names one.
import { readFile } from 'node:fs/promises';
import { CapstanError } from '../errors.js';
import type { RepositoriesFile } from './repositories-schema.js';

/** One repository as the host configures it. */
export interface RepositoryConfig {
  name: string;
  /** What restic calls the repository (RESTIC_REPOSITORY): `/path`, `sftp:user@host:/path`, `s3:https://…`. */
  location: string;
  passwordFile?: string;
  passwordEnv?: string;
  accessKeyIdEnv?: string;
  secretAccessKeyEnv?: string;
}

/** The policy file's `repositories:`, checked beyond what the schema says; a problem is a message for POLICY_INVALID. */
export function parseRepositories(file: RepositoriesFile | undefined): { repositories: Record<string, RepositoryConfig>; problem?: string } {
  const repositories: Record<string, RepositoryConfig> = {};
  for (const [name, entry] of Object.entries(file ?? {})) {
    const kinds = (['path', 'sftp', 's3'] as const).filter((kind) => entry[kind] !== undefined);
    if (kinds.length !== 1) return { repositories, problem: `repositories.${name}: give exactly one of path, sftp, s3` };
    if ((entry.password_file === undefined) === (entry.password_env === undefined)) return { repositories, problem: `repositories.${name}: give exactly one of password_file, password_env` };
    if (kinds[0] !== 's3' && (entry.access_key_id_env || entry.secret_access_key_env)) return { repositories, problem: `repositories.${name}: access keys are for s3 repositories` };
    const kind = kinds[0];
    const location = kind === 'path' ? entry.path! : kind === 'sftp' ? `sftp:${entry.sftp}` : `s3:${entry.s3}`;
    const config: RepositoryConfig = { name, location };
    if (entry.password_file) config.passwordFile = entry.password_file;
    if (entry.password_env) config.passwordEnv = entry.password_env;
    if (entry.access_key_id_env) config.accessKeyIdEnv = entry.access_key_id_env;
    if (entry.secret_access_key_env) config.secretAccessKeyEnv = entry.secret_access_key_env;
    repositories[name] = config;
  }
  return { repositories };
}

/**
 * The environment restic runs with: the repository and its credentials, passed only there
 * (never on the command line, where `ps` shows them). Every value read is registered as a
 * secret first, so no log line, error or notification can carry it.
 */
export async function resticEnvironment(
  repository: RepositoryConfig,
  deps: { env: NodeJS.ProcessEnv; register: (value: string) => void; cacheDir: string },
): Promise<Record<string, string>> {
  const missing = (variable: string) =>
    new CapstanError('REPOSITORY_CREDENTIALS', 'terminal', `repository ${repository.name}: environment variable ${variable} is not set for the agent`, { repository: repository.name });
  const env: Record<string, string> = {
    PATH: deps.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: deps.env.HOME ?? '/root',
    RESTIC_REPOSITORY: repository.location,
    RESTIC_CACHE_DIR: deps.cacheDir,
  };
  if (repository.passwordFile) {
    // restic reads it itself; reading it here too registers the value for redaction.
    const password = await readFile(repository.passwordFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new CapstanError('REPOSITORY_CREDENTIALS', 'terminal', `repository ${repository.name}: cannot read password_file ${repository.passwordFile} (${error.code ?? 'error'})`, { repository: repository.name });
    });
    deps.register(password.replace(/\r?\n$/, ''));
    env.RESTIC_PASSWORD_FILE = repository.passwordFile;
  }
  for (const [variable, target] of [[repository.passwordEnv, 'RESTIC_PASSWORD'], [repository.accessKeyIdEnv, 'AWS_ACCESS_KEY_ID'], [repository.secretAccessKeyEnv, 'AWS_SECRET_ACCESS_KEY']] as const) {
    if (!variable) continue;
    const value = deps.env[variable];
    if (value === undefined || value === '') throw missing(variable);
    deps.register(value);
    env[target] = value;
  }
  return env;
}
