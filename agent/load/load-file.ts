// One manifest file through the pipeline: parse → interpolate → validate → normalize. Problems
// are located here, where the YAML document is at hand; checks across files happen in index.ts.
import { homedir } from 'node:os';
import { dirname } from 'node:path';
import type { ManifestProblem } from '../errors.js';
import type { HostPolicy } from '../policy/index.js';
import type { AppSite, GrantBinding, PortBinding } from './checks.js';
import { interpolateTree } from './variables/interpolate-tree.js';
import { locate } from './files/locate.js';
import { manifestVariables, type VariableContext } from './variables/manifest-variables.js';
import type { AppDraft } from './normalize/draft.js';
import { normalizeManifest } from './normalize/normalize.js';
import { parseManifest } from './files/parse.js';
import { formatKeyPath, startsWith, type KeyPath, type PathProblem } from './problems.js';
import { toRepoPath, type Checkout } from './files/repo-files.js';
import type { Manifest } from './schema/schema.js';
import { validateManifest } from './schema/validate.js';

export interface FileResult {
  problems: ManifestProblem[];
  /** Set whenever the file names its app, even if it has other problems, for duplicate checks. */
  appSite?: AppSite;
  app?: AppDraft;
  bindings: PortBinding[];
  grants: GrantBinding[];
  /** Compose files: what was done as Compose does (an unset variable left empty). */
  notes?: ManifestProblem[];
  /** Compose files under allow_unset_variables: the values whose unset variables were left empty, for `convert`. */
  emptied?: Array<{ path: KeyPath; variable: string }>;
}

export async function loadManifestFile(absolute: string, checkout: Checkout, context: VariableContext, policy: HostPolicy): Promise<FileResult> {
  const file = toRepoPath(checkout.root, absolute);
  const read = await checkout.reader.read(absolute, file);
  if ('problem' in read) return { problems: [read.problem], bindings: [], grants: [] };
  const { parsed, problems: syntaxProblems } = parseManifest(read.text, file);
  if (!parsed) return { problems: syntaxProblems, bindings: [], grants: [] };
  if (parsed.data === null || parsed.data === undefined) {
    const message = 'the file is empty; a manifest needs at least app: and services:';
    return { problems: [{ code: 'EMPTY_MANIFEST', file, line: 0, column: 0, key: '', message }], bindings: [], grants: [] };
  }

  const located = (path: KeyPath, atKey = false) => ({ file, ...locate(parsed.doc, parsed.lineCounter, path, atKey), key: formatKeyPath(path) });
  return loadManifestData({ file, data: parsed.data, manifestDir: dirname(absolute), located }, checkout, context, policy);
}

/** A manifest's data and where its keys are written: a parsed file, or a converted Compose file. */
export interface ManifestSource {
  /** The file the app is recorded from, relative to the checkout root. */
  file: string;
  data: unknown;
  /** Absolute folder that relative paths (env files, bind mounts, builds) start from. */
  manifestDir: string;
  /** Where a key path of `data` is written, and the key as the person wrote it. */
  located(path: KeyPath, atKey?: boolean): { file: string; line: number; column: number; key: string };
}

/** How a loader treats an unset `${VAR}` without default: Compose files may follow Compose (empty) when the host policy allows. */
export interface LoadOptions {
  compose?: boolean;
}

const UNSET_HINT = 'set allow_unset_variables: true in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to let a Compose file leave it empty, as Compose does';

export async function loadManifestData(source: ManifestSource, checkout: Checkout, context: VariableContext, policy: HostPolicy, options: LoadOptions = {}): Promise<FileResult> {
  const { file, data: parsedData, manifestDir, located } = source;
  const toProblem = (problem: PathProblem): ManifestProblem => ({
    code: problem.code,
    ...located(problem.path, problem.atKey),
    message: problem.message,
    ...(problem.grant === undefined ? {} : { grant: problem.grant }),
  });

  const fields = isMap(parsedData) ? parsedData : undefined;
  const { env_files: envFilesField, ...body } = fields ?? {};
  const app = await manifestVariables(envFilesField, manifestDir, context);
  const interpolated = interpolateTree(fields ? body : parsedData, app.variables.lookup, app.variables.isOpaque);
  // An unset variable without default: empty, as in Compose, with a note, when the host policy
  // lets Compose files do that; otherwise refused, naming the setting (in a Compose file).
  const emptied = options.compose && policy.allowUnsetVariables ? interpolated.problems.filter((problem) => problem.unsetVariable !== undefined) : [];
  const notes: ManifestProblem[] = emptied.map((problem) => ({
    code: 'COMPOSE_NOTE',
    ...located(problem.path),
    message: `variable '${problem.unsetVariable}' is not set: it is an empty string, as in Compose (allow_unset_variables: true); capstan convert writes it \${${problem.unsetVariable}:-}`,
  }));
  const emptiedAt = emptied.map((problem) => ({ path: problem.path, variable: problem.unsetVariable as string }));
  const unresolved = [
    ...app.unresolved,
    ...interpolated.problems
      .filter((problem) => !emptied.includes(problem))
      .map((problem) => (options.compose && problem.unsetVariable !== undefined ? { ...problem, message: `${problem.message}; or ${UNSET_HINT}` } : problem)),
  ];
  // A value whose variable is missing is empty now, and one from an unchecked env file a
  // stand-in; problems either causes further on are noise.
  const isNoise = (problem: PathProblem) =>
    [...unresolved.map((issue) => issue.path), ...interpolated.opaquePaths].some((path) => startsWith(problem.path, path));
  // When an env file failed, its problem is reported; its variables being undefined would only repeat it.
  const reported = app.variables.incomplete ? unresolved.filter((issue) => issue.code !== 'UNDEFINED_VARIABLE') : unresolved;
  const problems = [...reported, ...app.problems].map(toProblem);

  const data = (fields && envFilesField !== undefined ? { ...(interpolated.data as object), env_files: app.envFiles } : interpolated.data) as Record<string, unknown>;
  const appSite = typeof data.app === 'string' ? { name: data.app, ...located(['app']) } : undefined;
  const allSchemaProblems = validateManifest(data);
  const schemaProblems = allSchemaProblems.filter((problem) => !isNoise(problem));
  problems.push(...schemaProblems.map(toProblem));
  // Problems hidden as noise (a value from an unchecked env file) leave the rest worth checking,
  // unless they hide that the data is not shaped as a manifest (a file that is only `$`).
  if (schemaProblems.length > 0 || (allSchemaProblems.length > 0 && !manifestShaped(data))) return { problems, appSite, bindings: [], grants: [], notes, emptied: emptiedAt };

  const normalized = await normalizeManifest(data as Manifest, {
    checkout,
    file,
    manifestDir,
    lineOf: (path) => located(path, true).line,
    envFiles: context.envFiles,
    policy,
    homeDir: context.homeDir ?? homedir(),
  });
  problems.push(...normalized.problems.filter((problem) => !isNoise(problem)).map(toProblem));
  const bindings = normalized.ports.map(({ service, index, port, replicas }) => ({
    app: normalized.app.name,
    service,
    port,
    replicas,
    ...located(['services', service, 'ports', index]),
  }));
  const grants = normalized.grants.map(({ service, grant, path }) => ({ app: normalized.app.name, service, grant, ...located(path) }));
  return { problems, appSite, app: normalized.app, bindings, grants, notes, emptied: emptiedAt };
}

/** Maps where normalize expects maps: the file, `services` and each service, `volumes`. */
function manifestShaped(data: unknown): boolean {
  if (!isMap(data) || !isMap(data.services) || !Object.values(data.services).every(isMap)) return false;
  return data.volumes === undefined || (isMap(data.volumes) && Object.values(data.volumes).every((volume) => volume === null || isMap(volume)));
}

function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
