// A read-only file system in memory, for loading manifests without touching the disk
// (agent/load/files/file-reader.ts). Files, folders and symbolic links; errors carry the same
// `code`s as node:fs (ENOENT, ENOTDIR, EISDIR, EINVAL, ELOOP), which the loader relies on.
import { basename, dirname, join, posix, resolve } from 'node:path';
import type { FileInfo, FileReader, FolderEntry } from '../../agent/load/files/file-reader.js';

export type MemoryEntry = string | Buffer | { bytes: string | Buffer; mode: number } | { link: string };

type Node = { kind: 'file'; bytes: Buffer; mode: number } | { kind: 'folder' } | { kind: 'link'; target: string };

function fsError(code: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${path}`), { code });
}

function info(node: Node): FileInfo {
  return {
    size: node.kind === 'file' ? node.bytes.length : node.kind === 'link' ? node.target.length : 4096,
    mode: node.kind === 'file' ? node.mode : 0o755,
    isFile: () => node.kind === 'file',
    isDirectory: () => node.kind === 'folder',
    isSymbolicLink: () => node.kind === 'link',
  };
}

/** `entries` by path relative to `root` (absolute, need not exist on disk), `/`-separated. */
export function memoryFiles(root: string, entries: Record<string, MemoryEntry>): FileReader {
  const nodes = new Map<string, Node>();
  const addFolders = (path: string) => {
    for (let folder = path; !nodes.has(folder); folder = dirname(folder)) {
      nodes.set(folder, { kind: 'folder' });
      if (folder === dirname(folder)) break;
    }
  };
  addFolders(root);
  for (const [relative, entry] of Object.entries(entries)) {
    const absolute = join(root, ...relative.split(posix.sep));
    addFolders(dirname(absolute));
    if (typeof entry === 'string' || Buffer.isBuffer(entry)) nodes.set(absolute, { kind: 'file', bytes: Buffer.from(entry), mode: 0o644 });
    else if ('link' in entry) nodes.set(absolute, { kind: 'link', target: entry.link });
    else nodes.set(absolute, { kind: 'file', bytes: Buffer.from(entry.bytes), mode: entry.mode });
  }

  /** The path with every symbolic link resolved, as realpath(3); at most 40 links, as Linux. */
  const real = (path: string): string => {
    let links = 0;
    const walk = (absolute: string): string => {
      const parent = dirname(absolute);
      const base = parent === absolute ? absolute : join(walk(parent), basename(absolute));
      const node = nodes.get(base);
      if (node === undefined) throw fsError('ENOENT', path);
      if (node.kind !== 'link') return base;
      if (++links > 40) throw fsError('ELOOP', path);
      return walk(resolve(dirname(base), node.target));
    };
    return walk(resolve(path));
  };
  const file = (path: string): Node & { kind: 'file' } => {
    const node = nodes.get(real(path));
    if (node?.kind !== 'file') throw fsError('EISDIR', path);
    return node;
  };
  const noFollow = (path: string): Node => {
    const absolute = resolve(path);
    const node = nodes.get(join(real(dirname(absolute)), basename(absolute)));
    if (node === undefined) throw fsError('ENOENT', path);
    return node;
  };

  return {
    readFile: async (path) => Buffer.from(file(path).bytes),
    readAtMost: async (path, maxBytes) => {
      const { bytes } = file(path);
      return bytes.length > maxBytes ? { size: bytes.length } : { size: bytes.length, bytes: Buffer.from(bytes) };
    },
    stat: async (path) => info(nodes.get(real(path)) as Node),
    lstat: async (path) => info(noFollow(path)),
    readdir: async (path) => {
      const folder = real(path);
      if (nodes.get(folder)?.kind !== 'folder') throw fsError('ENOTDIR', path);
      const children: FolderEntry[] = [];
      for (const [absolute, node] of nodes) {
        if (absolute !== folder && dirname(absolute) === folder) children.push({ name: basename(absolute), ...info(node) });
      }
      return children;
    },
    realpath: async (path) => real(path),
    readlink: async (path) => {
      const node = noFollow(path);
      if (node.kind !== 'link') throw fsError('EINVAL', path);
      return node.target;
    },
  };
}
