// A build context: the files of a folder of the checkout that `.dockerignore` keeps. The loader
// digests them (so the image tag changes exactly when what is sent changes) and the executor tars
// the same list, so both always agree on what the context is.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { nodeFileReader, type FileReader } from './file-reader.js';

export interface ContextEntry {
  /** Relative to the context, `/`-separated. */
  path: string;
  kind: 'file' | 'folder' | 'link';
}

/** A context larger than this is almost surely a mistake (a context of `/` or of a data folder). */
const MAX_ENTRIES = 20_000;

interface IgnoreRule {
  pattern: RegExp;
  negated: boolean;
}

/**
 * `.dockerignore` as Docker reads it: one pattern per line, `#` comments, `!` re-includes;
 * `*` and `?` stay within one path segment, `**` spans any number; a pattern that matches a
 * folder excludes everything below it.
 */
export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    if (negated) line = line.slice(1).trim();
    line = line.replace(/^\/+/, '').replace(/\/+$/, '').replace(/^\.\//, '');
    if (line === '' || line === '.') continue;
    rules.push({ pattern: globToRegExp(line), negated });
  }
  return rules;
}

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let index = 0; index < glob.length; index++) {
    const character = glob[index];
    if (character === '*' && glob[index + 1] === '*') {
      const slashAfter = glob[index + 2] === '/';
      source += slashAfter ? '(?:.*/)?' : '.*';
      index += slashAfter ? 2 : 1;
    } else if (character === '*') source += '[^/]*';
    else if (character === '?') source += '[^/]';
    else if (character === '[') {
      const close = glob.indexOf(']', index + 1);
      if (close < 0) source += '\\[';
      else {
        source += '[' + glob.slice(index + 1, close).replace(/^!/, '^').replace(/\\/g, '\\\\') + ']';
        index = close;
      }
    } else if (character === '\\' && index + 1 < glob.length) source += '\\' + glob[++index];
    else source += character.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** The last rule that matches the path or one of its parent folders decides. */
export function isIgnored(path: string, rules: IgnoreRule[]): boolean {
  const segments = path.split('/');
  const prefixes = segments.map((_, index) => segments.slice(0, index + 1).join('/'));
  let ignored = false;
  for (const rule of rules) {
    if (prefixes.some((prefix) => rule.pattern.test(prefix))) ignored = !rule.negated;
  }
  return ignored;
}

/**
 * The entries of the context in sorted order. The Dockerfile and `.dockerignore` are always
 * sent, as the Docker CLI does, even when `.dockerignore` lists them. The loader passes its
 * checkout's reader; the executor, which tars the real files, the real file system.
 */
export async function listContext(contextDir: string, dockerfile: string, files: FileReader = nodeFileReader): Promise<ContextEntry[]> {
  const ignoreText = await files.readFile(join(contextDir, '.dockerignore')).then((bytes) => bytes.toString('utf8'), () => '');
  const rules = parseDockerignore(ignoreText);
  const always = new Set(['.dockerignore', dockerfile]);
  const entries: ContextEntry[] = [];
  const walk = async (folder: string, prefix: string): Promise<void> => {
    for (const name of (await files.readdir(folder)).map((entry) => entry.name).sort()) {
      const path = prefix + name;
      const absolute = join(folder, name);
      const info = await files.lstat(absolute);
      const kept = always.has(path) || !isIgnored(path, rules);
      if (info.isDirectory()) {
        if (name === '.git' && prefix === '') continue;
        if (kept) entries.push({ path, kind: 'folder' });
        // A re-included file may sit below an ignored folder, so ignored folders are walked too.
        await walk(absolute, path + '/');
      } else if (kept && (info.isFile() || info.isSymbolicLink())) {
        entries.push({ path, kind: info.isFile() ? 'file' : 'link' });
      }
      if (entries.length > MAX_ENTRIES) throw new Error(`the build context holds more than ${MAX_ENTRIES} files; list what to leave out in .dockerignore`);
    }
  };
  await walk(contextDir, '');
  return entries;
}

/** `sha256:<hex>` over the listing: each entry's path and kind, files' content and executable bit, links' target. */
export async function contextDigest(files: FileReader, contextDir: string, entries: ContextEntry[]): Promise<string> {
  const listing = createHash('sha256');
  for (const entry of entries) {
    const absolute = join(contextDir, entry.path);
    if (entry.kind === 'folder') listing.update(`D ${JSON.stringify(entry.path)}\n`);
    else if (entry.kind === 'link') listing.update(`L ${JSON.stringify(entry.path)} ${JSON.stringify(await files.readlink(absolute))}\n`);
    else {
      const info = await files.lstat(absolute);
      const executable = (info.mode & 0o111) !== 0 ? 'x' : '-';
      const content = createHash('sha256').update(await files.readFile(absolute)).digest('hex');
      listing.update(`F ${JSON.stringify(entry.path)} ${executable} ${content}\n`);
    }
  }
  return 'sha256:' + listing.digest('hex');
}
