// The variables one manifest's placeholders resolve from (layer order in variables.ts). Its own
// `env_files` are read first; their paths resolve from the repository default file only, since
// they are what defines every other variable of the manifest.
import type { EnvFileRead, EnvFiles } from './env-files.js';
import { interpolateTree } from './interpolate-tree.js';
import type { Lookup } from './interpolate.js';
import type { PathProblem } from '../problems.js';
import { layerVariables, type Variables } from './variables.js';

export interface VariableContext {
  envFiles: EnvFiles;
  /** The repository default env file, when there is one. */
  defaults?: EnvFileRead;
  /** The loader's injected lookup, consulted after every env file. */
  fallback: Lookup;
  /** The agent user's home, for `~` in bind sources; os.homedir() when absent. */
  homeDir?: string;
}

export interface ManifestVariables {
  variables: Variables;
  /** The manifest's `env_files` value with its placeholders resolved, to put back in the data. */
  envFiles: unknown;
  /** Unresolved placeholders in the `env_files` paths. */
  unresolved: PathProblem[];
  /** Env files that could not be found or decrypted, at their `env_files` entries. */
  problems: PathProblem[];
}

export async function manifestVariables(envFilesField: unknown, manifestDir: string, context: VariableContext): Promise<ManifestVariables> {
  const base = layerVariables([context.defaults], context.fallback);
  const paths = interpolateTree(envFilesField, base.lookup, base.isOpaque);
  const unresolved = paths.problems.map((problem) => ({ ...problem, path: ['env_files', ...problem.path] }));
  const reads: EnvFileRead[] = [];
  const problems: PathProblem[] = [];
  // Anything but a list of strings is left to the schema check.
  if (Array.isArray(paths.data)) {
    for (const [index, entry] of paths.data.entries()) {
      if (typeof entry !== 'string' || entry === '') continue;
      const unknownPath = [...paths.problems, ...paths.opaquePaths.map((path) => ({ path }))].some((problem) => problem.path[0] === index);
      if (unknownPath) {
        reads.push({ failed: true });
        continue;
      }
      const read = await context.envFiles.read(manifestDir, entry);
      if ('failed' in read && read.reference) problems.push({ ...read.reference, path: ['env_files', index] });
      reads.push(read);
    }
  }
  return {
    variables: layerVariables([...reads.reverse(), context.defaults], context.fallback),
    envFiles: paths.data,
    unresolved,
    problems,
  };
}
