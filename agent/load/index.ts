// The load stage: a checkout folder of manifests → DesiredState, or every problem at once. A
// commit applies whole or not at all, so one bad file fails the load but all files are checked.
import { resolve } from 'node:path';
import type { Keyring } from '../../secrets/index.js';
import type { SopsKeys } from '../../secrets/sops/index.js';
import { ManifestError, type ManifestProblem } from '../errors.js';
import type { App, DesiredState, RegistryCredential, Service } from '../model.js';
import { DEFAULT_POLICY, type HostPolicy } from '../policy/index.js';
import { policySnippetProblem } from '../policy/snippet.js';
import { redactValues } from '../redact.js';
import type { SecretRegistry } from '../secret-registry.js';
import { duplicateApps, grantProblems, portProblems, type AppSite, type GrantBinding, type PortBinding } from './checks.js';
import { discoverManifests, type Skipped } from './files/discover.js';
import type { Note } from './compose/index.js';
import { networkNameClashes } from './normalize/networks.js';
import { openEnvFiles } from './variables/env-files.js';
import { hashServices, hooksHash } from './normalize/hash.js';
import type { Lookup } from './variables/interpolate.js';
import { loadManifestFile } from './load-file.js';
import { buildImageTag } from './normalize/build.js';
import type { AppDraft, ServiceDraft } from './normalize/draft.js';
import { registryCredentials } from './variables/registries.js';
import { isInside, openCheckout, toRepoPath } from './files/repo-files.js';
import { readRepositorySettings, SETTINGS_FILE } from './files/settings.js';
import type { ReadLimits } from './files/read-text.js';
import { nodeFileReader, type FileReader } from './files/file-reader.js';
import { DEFAULT_ENV_FILE, LIMITS } from './schema/patterns.js';

export type { Lookup } from './variables/interpolate.js';
export type { Skipped } from './files/discover.js';
export type { ReadLimits } from './files/read-text.js';
export type { FileReader } from './files/file-reader.js';

export interface LoadInput {
  /** Absolute path of the checkout. */
  root: string;
  /** Manifests folder inside the checkout; default `.`. */
  path?: string;
  /** Commit the checkout holds, recorded in the state. */
  commit: string;
  /** Key of the config-hash HMAC; see normalize/hash.ts. */
  hashKey: Uint8Array;
  /** Decrypts the env files manifests name; without it naming one is a SECRETS_NO_KEY problem. */
  keyring?: Keyring;
  /** Age identities and OpenPGP keys that open SOPS env files; without them naming one is a SOPS_NO_KEY problem. */
  sopsKeys?: SopsKeys;
  /**
   * Resolves `${VAR}` after every env file; the agent passes none, so only the repository's
   * encrypted env files define variables.
   */
  lookup?: Lookup;
  /** What manifests may ask of this host; absent means DEFAULT_POLICY (all of it refused). */
  policy?: HostPolicy;
  /** The agent's registry of values to redact: each decrypted value is registered as it is decrypted. */
  secrets?: SecretRegistry;
  /** Largest file and most bytes the load reads; absent, DEFAULT_READ_LIMITS. */
  readLimits?: ReadLimits;
  /** The file system the checkout is read from; absent, the real one (a unit test passes memory). */
  files?: FileReader;
}

/** For `capstan validate`: commit and key only matter for the returned state, so may be left out. */
export type ValidateInput = Omit<LoadInput, 'commit' | 'hashKey'> &
  Partial<Pick<LoadInput, 'commit' | 'hashKey'>> & {
    /**
     * `capstan validate` without a key: env files are checked for their header, and the names
     * they define (stored in the clear) count as set; values they would give are not checked.
     * The state returned then holds stand-ins, so it is only ever counted, never deployed.
     */
    uncheckedEnvFiles?: boolean;
    /** The same for SOPS files, when no age or OpenPGP key is at hand. */
    uncheckedSopsFiles?: boolean;
  };

export interface Validation {
  problems: ManifestProblem[];
  /** Present when there are no problems. */
  state?: DesiredState;
  /** Folders and links that were not read, and why (Compose projects, linked folders). */
  skipped: Skipped[];
  /** Env files read for their names only (`uncheckedEnvFiles`), by repository path. */
  uncheckedEnvFiles: string[];
  /** What was accepted but deserves a person's attention (Compose keys with no effect here…), formatted. */
  notes: string[];
}

const noVariables: Lookup = () => undefined;

export async function loadDesiredState(input: LoadInput): Promise<DesiredState> {
  const validation = await validateDir(input);
  if (!validation.state) throw new ManifestError(validation.problems);
  return validation.state;
}

export async function validateDir(input: ValidateInput): Promise<Validation> {
  const root = resolve(input.root);
  const path = input.path ?? '.';
  const folder = resolve(root, path);
  const files = input.files ?? nodeFileReader;
  const folderInfo = isInside(root, folder) ? await files.stat(folder).catch(() => undefined) : undefined;
  if (!folderInfo?.isDirectory()) {
    const message = `manifests folder '${path}' does not exist in the checkout; check --path (CAPSTAN_PATH), relative to the repository root`;
    return { problems: [{ code: 'PATH_NOT_FOUND', file: path, line: 0, column: 0, key: '', message }], skipped: [], uncheckedEnvFiles: [], notes: [] };
  }

  const checkout = await openCheckout(root, input.readLimits, files);
  const envFiles = openEnvFiles(checkout, { keyring: input.keyring, sopsKeys: input.sopsKeys, unchecked: input.uncheckedEnvFiles, sopsUnchecked: input.uncheckedSopsFiles, secrets: input.secrets });
  const variableContext = { envFiles, defaults: await envFiles.readDefault(folder), fallback: input.lookup ?? noVariables };
  const discovery = await discoverManifests(checkout, folder);
  const problems = [...discovery.problems];
  const appSites: AppSite[] = [];
  const bindings: PortBinding[] = [];
  const grants: GrantBinding[] = [];
  const drafts: AppDraft[] = [];
  for (const file of discovery.files) {
    const result = await loadManifestFile(file, checkout, variableContext, input.policy ?? DEFAULT_POLICY);
    problems.push(...result.problems);
    if (result.appSite) appSites.push(result.appSite);
    bindings.push(...result.bindings);
    grants.push(...result.grants);
    if (result.app) drafts.push(result.app);
  }
  const notes: Note[] = [];
  // The Compose loader (21 modules) loads only for a repository that holds Compose files.
  const compose = discovery.composeFolders.length > 0 ? await import('./compose/index.js') : undefined;
  for (const composeFolder of discovery.composeFolders) {
    const { result, notes: composeNotes } = await compose!.loadComposeFolder(composeFolder, checkout, variableContext, input.policy ?? DEFAULT_POLICY);
    problems.push(...result.problems);
    notes.push(...composeNotes);
    if (result.appSite) appSites.push(result.appSite);
    bindings.push(...result.bindings);
    grants.push(...result.grants);
    if (result.app) drafts.push(result.app);
  }
  problems.push(...networkNameClashes(drafts), ...containerCount(drafts));
  const noteLines = compose ? notes.sort(byPosition).map(compose.formatNote) : [];
  problems.push(...envFiles.problems, ...duplicateApps(appSites), ...portProblems(bindings), ...grantProblems(grants, drafts));
  const defaults = variableContext.defaults;
  const registries = defaults && 'variables' in defaults ? registryCredentials(defaults.variables.values, toRepoPath(root, resolve(folder, DEFAULT_ENV_FILE))) : undefined;
  problems.push(...(registries?.problems ?? []));
  const settings = await readRepositorySettings(folder, toRepoPath(root, resolve(folder, SETTINGS_FILE)), checkout);
  problems.push(...settings.problems);
  const uncheckedEnvFiles = [...envFiles.unchecked].sort();
  if (problems.length > 0) {
    // A value used where it does not fit (a volume name, a bind path) is quoted by the check that
    // refuses it; the problem becomes the error, the log line, the SQLite row, the notification.
    const sorted = problems.sort(byPosition);
    const snippet = policySnippetProblem(sorted, input.policy ?? DEFAULT_POLICY);
    // After every other problem: the load's error ends with the lines to copy.
    const scrubbed = [...sorted, ...(snippet ? [snippet] : [])].map((problem) => scrubProblem(problem, envFiles.secretValues));
    return { problems: scrubbed, skipped: discovery.skipped, uncheckedEnvFiles, notes: noteLines.map((line) => redactValues(line, envFiles.secretValues)) };
  }

  const hashKey = input.hashKey ?? new Uint8Array();
  const apps: App[] = drafts
    .map((draft) => ({ ...draft, services: finishServices(draft.services, hashKey), ...(draft.hooks ? { hooksHash: hooksHash(draft.hooks, hashKey) } : {}) }))
    .sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));
  const state: DesiredState = { commit: input.commit ?? '', apps };
  if (registries && registries.registries.length > 0) state.registries = registries.registries satisfies RegistryCredential[];
  if (noteLines.length > 0) state.notes = noteLines;
  if (input.policy && Object.keys(input.policy.mirrors).length > 0) state.mirrors = { hosts: input.policy.mirrors, failClosed: input.policy.mirrorsFailClosed };
  if (envFiles.secretValues.size > 0) state.sensitiveValues = [...envFiles.secretValues];
  if (settings.settings?.placement) state.placementDefault = settings.settings.placement.default;
  return { problems: [], state, skipped: discovery.skipped, uncheckedEnvFiles, notes: noteLines };
}

/** Built images get their tag, then every service its config hash: parents before their sidecars. */
function finishServices(drafts: ServiceDraft[], hashKey: Uint8Array): Service[] {
  const tagged = drafts.map((draft) => (draft.build ? { ...draft, image: buildImageTag(draft.app, draft.name, draft.build, hashKey) } : draft));
  return hashServices(tagged, hashKey);
}

function scrubProblem(problem: ManifestProblem, values: ReadonlySet<string>): ManifestProblem {
  if (values.size === 0) return problem;
  const scrubbed = { ...problem, key: redactValues(problem.key, values), message: redactValues(problem.message, values) };
  const grant = JSON.stringify(problem.grant ?? {});
  if ([...values].some((value) => value !== '' && grant.includes(value))) delete scrubbed.grant;
  return scrubbed;
}

/** The planner's work is linear in the containers; a commit asks for at most LIMITS.containers. */
function containerCount(drafts: AppDraft[]): ManifestProblem[] {
  let total = 0;
  for (const app of drafts) {
    for (const service of app.services) {
      total += service.replicas;
      if (total > LIMITS.containers) {
        const message = `the apps ask for more than ${LIMITS.containers} containers in all (replicas added up, this service's included); split them across hosts (placement)`;
        return [{ code: 'TOO_MANY_CONTAINERS', file: service.source.file, line: service.source.line, column: 1, key: `services.${service.name}.replicas`, message }];
      }
    }
  }
  return [];
}

function byPosition(left: ManifestProblem, right: ManifestProblem): number {
  if (left.file !== right.file) return left.file < right.file ? -1 : 1;
  return left.line - right.line || left.column - right.column;
}
