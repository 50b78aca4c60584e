import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { TrustedSigner } from '../trust/types.js';
import type { SignatureVerdict } from '../trust/types.js';
import { BundleErrorCode, bundleError, INDEX_ENTRY, LIMITS, parseIndex, type BundleIndex } from './format.js';
import { readBundle, scanHeaders } from './read.js';
import { verifyIndex } from './sign.js';

/**
 * The index of a bundle, read without any check of its signature or parts: for `--since`, where
 * the previous bundle is the creator's own file, and never for anything a site deploys.
 */
export async function readIndexOnly(file: string): Promise<BundleIndex> {
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw bundleError(BundleErrorCode.unreadable, file, 'is not a readable file');
  await scanHeaders(file, info.size);
  let bytes: Buffer | undefined;
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    if (header.name !== INDEX_ENTRY || header.type !== 'file' || (header.size ?? 0) > LIMITS.indexBytes) {
      extract.destroy(bundleError(BundleErrorCode.malformed, file, `the first entry is not ${INDEX_ENTRY}`));
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      bytes = Buffer.concat(chunks);
      extract.destroy();
      next();
    });
  });
  await pipeline(createReadStream(file), extract).catch((error) => {
    if (bytes === undefined) throw (error as { code?: string }).code?.startsWith('BUNDLE_') ? error : bundleError(BundleErrorCode.malformed, file, `is not a bundle: ${(error as Error).message}`);
  });
  if (bytes === undefined) throw bundleError(BundleErrorCode.malformed, file, `holds no ${INDEX_ENTRY}`);
  return parseIndex(bytes, file);
}

export interface Inspection {
  index: BundleIndex;
  indexDigest: string;
  /** `verified` by the trust file, `refused` (with why), or `not checked` without a trust file. */
  signature: { status: 'verified' | 'refused' | 'not checked' | 'unsigned'; detail?: string; signer?: SignatureVerdict };
  /** Every part's size and sha256 matched the index (inspect hashes without writing anything). */
  partsIntact: boolean;
  problem?: string;
}

/** What a bundle holds and whether it would pass the checks, without importing or writing anything. */
export async function inspectBundle(file: string, signers: TrustedSigner[] | undefined, now: Date): Promise<Inspection> {
  let signature: Inspection['signature'] = { status: 'not checked' };
  try {
    const result = await readBundle(file, {
      verify: async (indexBytes, text) => {
        // Only recorded: inspect reads on and hashes every part whatever the signature.
        if (text === undefined) signature = { status: 'unsigned' };
        else if (signers) {
          const verdict = await verifyIndex(indexBytes, text, signers, now);
          signature = verdict.ok
            ? { status: 'verified', detail: `${verdict.signer.format} ${verdict.signer.fingerprint} ${verdict.signer.identities.join(', ')}`.trim(), signer: verdict }
            : { status: 'refused', detail: `${verdict.code}: ${verdict.reason}${verdict.fingerprint ? ` (key ${verdict.fingerprint})` : ''}`, signer: verdict };
        }
        return undefined;
      },
    });
    return { index: result.index, indexDigest: result.indexDigest, signature, partsIntact: true };
  } catch (error) {
    const index = await readIndexOnly(file).catch(() => undefined);
    if (!index) throw error;
    return { index, indexDigest: '', signature, partsIntact: false, problem: `${(error as { code?: string }).code ?? 'ERROR'}: ${(error as Error).message}` };
  }
}
