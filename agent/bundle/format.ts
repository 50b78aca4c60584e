// The offline bundle's file format: one uncompressed tar whose entries are, in this order,
//
//   index.json   what the bundle holds (below), each part with its size and sha256
//   index.sig    a detached signature of index.json's exact bytes: SSHSIG in the
//                `capstan-bundle` namespace (`ssh-keygen -Y sign -n capstan-bundle`) or OpenPGP
//   repo.bundle  a `git bundle` of the branch up to the commit (with --since, only what is new)
//   images.tar   the images the manifests at that commit use, as `docker save` writes them
//                (each layer once); with --since, without the layers the site already holds
//
// A reader checks the signature of the index before it reads on, and stages a part only under a
// name the signed index lists, hashing it as it is written; nothing is loaded before every part
// matched. Any other entry, order, type (links, folders) or size is refused.
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { CapstanError } from '../errors.js';

export const BUNDLE_FORMAT = 'capstan-bundle/1';
export const SSH_NAMESPACE = 'capstan-bundle';
export const INDEX_ENTRY = 'index.json';
export const SIGNATURE_ENTRY = 'index.sig';
export const PART_NAMES = ['repo.bundle', 'images.tar'] as const;
export type PartName = (typeof PART_NAMES)[number];

/** Bounds on what a reader accepts before any check: hostile sizes are refused, never read. */
export const LIMITS = {
  indexBytes: 4 * 1024 * 1024,
  signatureBytes: 64 * 1024,
  /** A part: what a ustar header's 11 octal digits can state (8 GiB - 1). */
  partBytes: 8 * 1024 ** 3 - 1,
  /** Tar entries (the two index entries and the parts). */
  entries: 2 + PART_NAMES.length,
};

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const CommitId = Type.String({ pattern: '^[0-9a-f]{40}$' });
const Digest = Type.String({ pattern: '^sha256:[0-9a-f]{64}$' });
const Text = (maxLength: number) => Type.String({ maxLength });

export const BundlePart = Type.Object({
  name: Type.Union(PART_NAMES.map((name) => Type.Literal(name))),
  size: Type.Integer({ minimum: 0, maximum: LIMITS.partBytes }),
  sha256: Sha256,
}, { additionalProperties: false });
export type BundlePart = Static<typeof BundlePart>;

export const BundleImage = Type.Object({
  /** As the manifests name it, e.g. `registry.example/app/web:1.4`. */
  ref: Text(512),
  /** The image ID (config digest). */
  id: Digest,
  /** Uncompressed layer digests (diff IDs), bottom first. */
  layers: Type.Array(Digest, { maxItems: 256 }),
  /** Those carried by this bundle; the others the site must already hold. */
  carried: Type.Array(Digest, { maxItems: 256 }),
  /** Bytes of the carried layers. */
  carriedBytes: Type.Integer({ minimum: 0 }),
}, { additionalProperties: false });
export type BundleImage = Static<typeof BundleImage>;

export const BundleIndex = Type.Object({
  format: Type.Literal(BUNDLE_FORMAT),
  /** Where it was made from, credentials removed; informative only. */
  repo: Text(1024),
  branch: Text(255),
  commit: CommitId,
  /** With --since: the commit the site must already hold (the git bundle's prerequisite). */
  since: Type.Optional(CommitId),
  createdAt: Text(64),
  /** Newest first, at most 1000: what `bundle inspect` lists. */
  commits: Type.Array(Type.Object({ id: CommitId, subject: Text(1024) }, { additionalProperties: false }), { maxItems: 1000 }),
  apps: Type.Array(Type.Object({
    name: Text(255),
    services: Type.Array(Type.Object({
      name: Text(255),
      image: Text(512),
      /** Built from the repository (`build:`) where the bundle was made; the site tags it with its own tag. */
      built: Type.Optional(Type.Boolean()),
    }, { additionalProperties: false }), { maxItems: 1000 }),
  }, { additionalProperties: false }), { maxItems: 1000 }),
  images: Type.Array(BundleImage, { maxItems: 1000 }),
  parts: Type.Array(BundlePart, { minItems: 1, maxItems: PART_NAMES.length }),
}, { additionalProperties: false });
export type BundleIndex = Static<typeof BundleIndex>;

export const BundleErrorCode = {
  unreadable: 'BUNDLE_UNREADABLE',
  malformed: 'BUNDLE_MALFORMED',
  unsigned: 'BUNDLE_UNSIGNED',
  badSignature: 'BUNDLE_BAD_SIGNATURE',
  untrusted: 'BUNDLE_UNTRUSTED',
  tampered: 'BUNDLE_TAMPERED',
  truncated: 'BUNDLE_TRUNCATED',
  wrongBranch: 'BUNDLE_WRONG_BRANCH',
  older: 'BUNDLE_OLDER',
  alreadyImported: 'BUNDLE_ALREADY_IMPORTED',
  missingCommit: 'BUNDLE_MISSING_COMMIT',
  missingLayer: 'BUNDLE_MISSING_LAYER',
  configInvalid: 'BUNDLE_CONFIG_INVALID',
  createFailed: 'BUNDLE_CREATE_FAILED',
  loadFailed: 'BUNDLE_LOAD_FAILED',
} as const;

export function bundleError(code: string, file: string, message: string, data: Record<string, unknown> = {}, cause?: unknown): CapstanError {
  return new CapstanError(code, 'terminal', `bundle ${file}: ${message}`, { file, ...data }, cause === undefined ? undefined : { cause });
}

/** Parses and checks the signed index bytes; names the first wrong key. */
export function parseIndex(bytes: Buffer, file: string): BundleIndex {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw bundleError(BundleErrorCode.malformed, file, `${INDEX_ENTRY} is not UTF-8 JSON`, {}, cause);
  }
  if (!Value.Check(BundleIndex, value)) {
    const first = Value.Errors(BundleIndex, value).First();
    throw bundleError(BundleErrorCode.malformed, file, `${INDEX_ENTRY}${first ? ` at ${first.path || '/'}: ${first.message}` : ' does not match the format'}`);
  }
  const names = value.parts.map((part) => part.name);
  if (new Set(names).size !== names.length) throw bundleError(BundleErrorCode.malformed, file, `${INDEX_ENTRY} lists a part twice`);
  if (!names.includes('repo.bundle')) throw bundleError(BundleErrorCode.malformed, file, `${INDEX_ENTRY} lists no repo.bundle`);
  return value;
}
