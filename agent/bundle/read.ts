import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { CapstanError } from '../errors.js';
import type { SignatureVerdict } from '../trust/types.js';
import { BundleErrorCode, bundleError, INDEX_ENTRY, LIMITS, parseIndex, PART_NAMES, SIGNATURE_ENTRY, type BundleIndex, type PartName } from './format.js';

export interface ReadBundleOptions {
  /** Judges the signature of the index bytes; reading stops on a refusal. */
  verify: (indexBytes: Buffer, signature: string | undefined) => Promise<SignatureVerdict | undefined>;
  /** Where parts are written as they are hashed; undefined: hash only (inspect). */
  stagingDir?: string;
  /** Called with the verified index, before any part is read: a last chance to refuse (wrong branch, replay). */
  beforeParts?: (index: BundleIndex, indexDigest: string) => void | Promise<void>;
  progress?: (message: string) => void;
}

export interface ReadBundle {
  index: BundleIndex;
  /** sha256 of the index bytes: the bundle's identity, recorded once imported. */
  indexDigest: string;
  verdict?: SignatureVerdict;
  /** Staged parts, each verified against the index. */
  parts: Map<PartName, string>;
}

/**
 * Reads a bundle front to back, trusting nothing before the signature of its index: the index
 * and signature entries are bounded and come first; every later entry must be a file the signed
 * index lists, of exactly its size, and is staged under the index's name for it (never the
 * entry's own path) while being hashed. Throws a CapstanError saying which check failed.
 */
export async function readBundle(file: string, options: ReadBundleOptions): Promise<ReadBundle> {
  const info = await fsp.lstat(file).catch((cause) => { throw bundleError(BundleErrorCode.unreadable, file, `cannot be read (${(cause as NodeJS.ErrnoException).code ?? cause})`); });
  if (info.isSymbolicLink()) throw bundleError(BundleErrorCode.unreadable, file, 'is a symbolic link: copy the bundle itself');
  if (!info.isFile()) throw bundleError(BundleErrorCode.unreadable, file, 'is not a regular file');
  if (info.size > PART_NAMES.length * (LIMITS.partBytes + 2 * 512) + LIMITS.indexBytes + LIMITS.signatureBytes + 64 * 1024) throw bundleError(BundleErrorCode.malformed, file, `is ${info.size} bytes, more than a bundle may hold`);

  await scanHeaders(file, info.size);

  let indexBytes: Buffer | undefined;
  let signature: string | undefined;
  let index: BundleIndex | undefined;
  let verdict: SignatureVerdict | undefined;
  let failure: CapstanError | undefined;
  let entries = 0;
  const parts = new Map<PartName, string>();
  const seen = new Set<string>();
  const extract = tar.extract();
  const fail = (error: CapstanError) => { failure ??= error; extract.destroy(error); };

  extract.on('entry', (header, stream, next) => {
    void (async () => {
      entries++;
      const name = header.name;
      const size = header.size ?? 0;
      if (entries > LIMITS.entries) throw bundleError(BundleErrorCode.malformed, file, `holds more than ${LIMITS.entries} entries`);
      if (header.type !== 'file') throw bundleError(BundleErrorCode.malformed, file, `entry ${JSON.stringify(name.slice(0, 100))} is a ${header.type}, not a file: links and folders are refused`);
      if (entries === 1) {
        if (name !== INDEX_ENTRY) throw bundleError(BundleErrorCode.malformed, file, `the first entry is ${JSON.stringify(name.slice(0, 100))}, not ${INDEX_ENTRY}`);
        if (size > LIMITS.indexBytes) throw bundleError(BundleErrorCode.malformed, file, `${name} is ${size} bytes, more than ${LIMITS.indexBytes}`);
        indexBytes = await collect(stream, LIMITS.indexBytes);
        return;
      }
      if (entries === 2 && name === SIGNATURE_ENTRY) {
        if (size > LIMITS.signatureBytes) throw bundleError(BundleErrorCode.malformed, file, `${name} is ${size} bytes, more than ${LIMITS.signatureBytes}`);
        signature = (await collect(stream, LIMITS.signatureBytes)).toString('utf8');
        await judge(signature);
        return;
      }
      // No signature entry: the verifier decides (an importer refuses, inspect reads on).
      if (index === undefined) await judge(undefined);
      if (index === undefined) throw bundleError(BundleErrorCode.malformed, file, 'the index is not verified');
      const part = index.parts.find((candidate) => candidate.name === name);
      if (part === undefined) throw bundleError(BundleErrorCode.tampered, file, `entry ${JSON.stringify(name.slice(0, 100))} is not listed in the signed index`);
      if (seen.has(name)) throw bundleError(BundleErrorCode.tampered, file, `entry ${name} appears twice`);
      seen.add(name);
      if (size !== part.size) throw bundleError(BundleErrorCode.tampered, file, `${name} is ${size} bytes, the signed index says ${part.size}`);
      const hash = createHash('sha256');
      let hashed = 0;
      stream.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        hashed += chunk.length;
      });
      const target = options.stagingDir ? join(options.stagingDir, part.name) : undefined;
      if (target) await pipeline(stream, createWriteStream(target, { flags: 'wx', mode: 0o600 }));
      else await new Promise<void>((resolve, reject) => stream.on('end', resolve).on('error', reject).resume());
      if (hashed !== part.size) throw bundleError(BundleErrorCode.truncated, file, `${name} ends after ${hashed} of ${part.size} bytes`);
      const digest = hash.digest('hex');
      if (digest !== part.sha256) throw bundleError(BundleErrorCode.tampered, file, `${name} has sha256 ${digest}, the signed index says ${part.sha256}`);
      options.progress?.(`${name}: ${part.size} bytes verified`);
      if (target) parts.set(part.name, target);
    })().then(() => next(), (error: CapstanError) => fail(error));
  });

  async function judge(signatureText: string | undefined): Promise<void> {
    if (indexBytes === undefined) throw bundleError(BundleErrorCode.malformed, file, `the first entry is not ${INDEX_ENTRY}`);
    verdict = await options.verify(indexBytes, signatureText);
    if (verdict !== undefined && !verdict.ok) {
      const code = verdict.code === 'UNSIGNED_COMMIT' ? BundleErrorCode.unsigned
        : verdict.code === 'BAD_SIGNATURE' ? BundleErrorCode.badSignature : BundleErrorCode.untrusted;
      const who = verdict.fingerprint ? ` (key ${verdict.fingerprint})` : '';
      throw bundleError(code, file, `the index signature is refused${who}: ${verdict.reason}`, { fingerprint: verdict.fingerprint });
    }
    index = parseIndex(indexBytes, file);
    await options.beforeParts?.(index, createHash('sha256').update(indexBytes).digest('hex'));
  }

  try {
    await pipeline(createReadStream(file), extract);
  } catch (error) {
    if (failure) throw failure;
    throw bundleError(BundleErrorCode.truncated, file, `is cut short or not a tar archive: ${(error as Error).message}`, {}, error);
  }
  if (failure) throw failure;
  if (index === undefined && indexBytes !== undefined && signature === undefined) await judge(undefined);
  if (index === undefined) throw bundleError(BundleErrorCode.truncated, file, 'ends before its signed index');
  const missing = index.parts.filter((part) => !seen.has(part.name)).map((part) => part.name);
  if (missing.length > 0) throw bundleError(BundleErrorCode.truncated, file, `ends before ${missing.join(', ')}`);
  return { index, indexDigest: createHash('sha256').update(indexBytes as Buffer).digest('hex'), verdict, parts };
}

async function collect(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw new Error(`entry larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const BLOCK = 512;
const ENTRY_NAMES = new Set<string>([INDEX_ENTRY, SIGNATURE_ENTRY, ...PART_NAMES]);

/**
 * Walks the tar headers by seeking, before the archive is streamed: only plain ustar file
 * entries under the bundle's own names, at most LIMITS.entries of them, within the file. So the
 * tar reader never meets a link, a folder, a pax or GNU long-name header (which it would buffer
 * whole, whatever size they claim) or a path of the writer's choosing.
 */
export async function scanHeaders(file: string, fileSize: number): Promise<void> {
  const handle = await fsp.open(file, 'r');
  try {
    const header = Buffer.alloc(BLOCK);
    let offset = 0;
    for (let entry = 0; ; entry++) {
      const { bytesRead } = await handle.read(header, 0, BLOCK, offset);
      if (bytesRead < BLOCK) throw bundleError(BundleErrorCode.truncated, file, `ends inside the header of entry ${entry + 1}`);
      if (header.every((byte) => byte === 0)) return;
      if (entry >= LIMITS.entries) throw bundleError(BundleErrorCode.malformed, file, `holds more than ${LIMITS.entries} entries`);
      const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
      const type = String.fromCharCode(header[156]);
      const prefix = header.subarray(345, 500).toString('latin1').replace(/\0.*$/s, '');
      if (type !== '0' && header[156] !== 0) throw bundleError(BundleErrorCode.malformed, file, `entry ${entry + 1} is of tar type ${JSON.stringify(type)}: only plain files are accepted (no links, folders or extended headers)`);
      if (prefix !== '' || !ENTRY_NAMES.has(name)) throw bundleError(BundleErrorCode.malformed, file, `entry ${entry + 1} is named ${JSON.stringify((prefix + name).slice(0, 100))}, not one of ${[...ENTRY_NAMES].join(', ')}`);
      const sizeField = header.subarray(124, 136).toString('latin1').replace(/[\0 ]+$/, '').trim();
      if (!/^[0-7]{1,11}$/.test(sizeField)) throw bundleError(BundleErrorCode.malformed, file, `entry ${entry + 1} has an unreadable size`);
      const size = parseInt(sizeField, 8);
      offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
      if (offset > fileSize) throw bundleError(BundleErrorCode.truncated, file, `ends inside ${name} (${size} bytes announced)`);
    }
  } finally {
    await handle.close();
  }
}
