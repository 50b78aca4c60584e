// One manifest file through the pipeline: parse → interpolate → validate → normalize. Problems
// are located here, where the YAML document is at hand; checks across files happen in index.ts.
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ManifestProblem } from '../errors.js';
import type { AppSite, PortBinding } from './checks.js';
import type { Lookup } from './interpolate.js';
import { interpolateTree } from './interpolate-tree.js';
import { locate } from './locate.js';
import { normalizeManifest, type AppDraft } from './normalize.js';
import { parseManifest } from './parse.js';
import { formatKeyPath, startsWith, type KeyPath, type PathProblem } from './problems.js';
import { toRepoPath, type Checkout } from './repo-files.js';
import type { Manifest } from './schema.js';
import { validateManifest } from './validate.js';

export interface FileResult {
  problems: ManifestProblem[];
  /** Set whenever the file names its app, even if it has other problems, for duplicate checks. */
  appSite?: AppSite;
  app?: AppDraft;
  bindings: PortBinding[];
}

export async function loadManifestFile(absolute: string, checkout: Checkout, lookup: Lookup): Promise<FileResult> {
  const file = toRepoPath(checkout.root, absolute);
  const { parsed, problems: syntaxProblems } = parseManifest(await readFile(absolute, 'utf8'), file);
  if (!parsed) return { problems: syntaxProblems, bindings: [] };
  if (parsed.data === null || parsed.data === undefined) {
    const message = 'the file is empty; a manifest needs at least app: and services:';
    return { problems: [{ code: 'EMPTY_MANIFEST', file, line: 0, column: 0, key: '', message }], bindings: [] };
  }

  const located = (path: KeyPath, atKey = false) => ({ file, ...locate(parsed.doc, parsed.lineCounter, path, atKey), key: formatKeyPath(path) });
  const toProblem = (problem: PathProblem): ManifestProblem => ({ code: problem.code, ...located(problem.path, problem.atKey), message: problem.message });

  const interpolated = interpolateTree(parsed.data, lookup);
  // A value whose variable is missing is empty now; problems it causes further on are noise.
  const isNoise = (problem: PathProblem) => interpolated.problems.some((unresolved) => startsWith(problem.path, unresolved.path));
  const problems = interpolated.problems.map(toProblem);

  const data = interpolated.data as Record<string, unknown>;
  const appSite = typeof data.app === 'string' ? { name: data.app, ...located(['app']) } : undefined;
  const schemaProblems = validateManifest(data).filter((problem) => !isNoise(problem));
  problems.push(...schemaProblems.map(toProblem));
  if (schemaProblems.length > 0) return { problems, appSite, bindings: [] };

  const normalized = await normalizeManifest(data as Manifest, {
    checkout,
    file,
    manifestDir: dirname(absolute),
    lineOf: (path) => located(path, true).line,
  });
  problems.push(...normalized.problems.filter((problem) => !isNoise(problem)).map(toProblem));
  const bindings = normalized.ports.map(({ service, index, port, replicas }) => ({
    app: normalized.app.name,
    service,
    port,
    replicas,
    ...located(['services', service, 'ports', index]),
  }));
  return { problems, appSite, app: normalized.app, bindings };
}
