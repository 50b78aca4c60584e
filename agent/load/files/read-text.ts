// Every text file the loader reads (manifests, Compose files, env files, capstan.yaml) comes
// through here, so hostile input is refused before it is parsed: a file larger than
// --max-manifest-bytes, a tree whose files add up to more than --max-tree-bytes, and bytes that
// are not UTF-8 (never replaced silently: a changed byte would change what is deployed).
import { isUtf8 } from 'node:buffer';
import type { ManifestProblem } from '../../errors.js';
import type { FileReader } from './file-reader.js';

export interface ReadLimits {
  /** Largest file the loader reads, bytes. */
  maxManifestBytes: number;
  /** Most bytes the loader reads for one commit, all files together. */
  maxTreeBytes: number;
}

/** 1 MiB per file (the largest Compose files seen are ~100 KB), 16 MiB per commit. */
export const DEFAULT_READ_LIMITS: ReadLimits = { maxManifestBytes: 1024 * 1024, maxTreeBytes: 16 * 1024 * 1024 };

export type TextRead = { text: string } | { problem: ManifestProblem };

/** Reads for one load, counting the bytes read against the tree's limit. */
export class TextReader {
  private used = 0;

  constructor(
    private readonly files: FileReader,
    readonly limits: ReadLimits = DEFAULT_READ_LIMITS,
  ) {}

  /** `file` names the file in problems (relative to the checkout root). Missing files throw, as readFile does. */
  async read(absolute: string, file: string): Promise<TextRead> {
    const problem = (code: string, message: string, line = 0): TextRead => ({ problem: { code, file, line, column: line > 0 ? 1 : 0, key: '', message } });
    const { maxManifestBytes, maxTreeBytes } = this.limits;
    const read = await this.files.readAtMost(absolute, Math.min(maxManifestBytes, maxTreeBytes - this.used));
    if (read.size > maxManifestBytes) {
      return problem('FILE_TOO_LARGE', `the file is ${read.size} bytes, more than the limit of ${maxManifestBytes} per file (--max-manifest-bytes, CAPSTAN_MAX_MANIFEST_BYTES)`);
    }
    if (this.used + read.size > maxTreeBytes || read.bytes === undefined) {
      return problem('TREE_TOO_LARGE', `the files read so far and this one add up to ${this.used + read.size} bytes, more than the limit of ${maxTreeBytes} per commit (--max-tree-bytes, CAPSTAN_MAX_TREE_BYTES)`);
    }
    // At most its size plus one byte is read: a file that grows after the stat is still bounded.
    if (read.bytes.length > maxManifestBytes) return problem('FILE_TOO_LARGE', `the file is more than ${maxManifestBytes} bytes per file (--max-manifest-bytes, CAPSTAN_MAX_MANIFEST_BYTES)`);
    const bytes = read.bytes;
    this.used += bytes.length;
    if (!isUtf8(bytes)) {
      const line = firstBadLine(bytes);
      return problem('NOT_UTF8', `line ${line} holds bytes that are not UTF-8; save the file as UTF-8 (nothing is replaced or guessed)`, line);
    }
    return { text: bytes.toString('utf8') };
  }
}

/** The first line (1-based) that is not UTF-8 on its own; lines split on `\n`, which UTF-8 never uses inside a character. */
function firstBadLine(bytes: Buffer): number {
  let start = 0;
  for (let line = 1; ; line++) {
    const end = bytes.indexOf(0x0a, start);
    const stop = end < 0 ? bytes.length : end;
    if (!isUtf8(bytes.subarray(start, stop))) return line;
    if (end < 0) return line;
    start = end + 1;
  }
}
