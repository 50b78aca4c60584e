// The file system as the loader sees it: reads only. Passed in (Checkout.files), as source/
// receives its `fs`, so a load can run from memory in a unit test (test/helpers/memory-files.ts)
// and the composition root decides what is real. Node's Stats and Dirent fit FileInfo and
// FolderEntry as they are.
import { lstat, open, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';

export interface FileInfo {
  size: number;
  /** Permission bits; only the executable bits are read (build contexts, mounted folders). */
  mode: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

export interface FolderEntry {
  name: string;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

/** A bounded read: the file's size, and its bytes unless it was larger than asked. */
export interface HeadRead {
  size: number;
  bytes?: Buffer;
}

/** Each call fails as node:fs/promises does (an error with `code` ENOENT, ENOTDIR…). */
export interface FileReader {
  readFile(path: string): Promise<Buffer>;
  /**
   * The size of the file as opened and, when it is at most `maxBytes`, its bytes: at most one
   * more than that size, so a file that grows while it is read is still bounded and the caller
   * can tell it grew.
   */
  readAtMost(path: string, maxBytes: number): Promise<HeadRead>;
  stat(path: string): Promise<FileInfo>;
  lstat(path: string): Promise<FileInfo>;
  readdir(path: string): Promise<FolderEntry[]>;
  realpath(path: string): Promise<string>;
  readlink(path: string): Promise<string>;
}

/** The real file system (node:fs/promises). */
export const nodeFileReader: FileReader = {
  readFile: (path) => readFile(path),
  async readAtMost(path, maxBytes) {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > maxBytes) return { size };
      const buffer = Buffer.alloc(size + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      return { size, bytes: buffer.subarray(0, bytesRead) };
    } finally {
      await handle.close();
    }
  },
  stat: (path) => stat(path),
  lstat: (path) => lstat(path),
  readdir: (path) => readdir(path, { withFileTypes: true }),
  realpath: (path) => realpath(path),
  readlink: (path) => readlink(path),
};
