// isomorphic-git inflates every object it reads from a pack or a loose file with pako, zlib in
// JavaScript: a new inflater and its Huffman tables per object. On the 2,000-file repository of
// BENCHMARKS.md figure 5 that was 600 ms of a 2.3 s checkout, plus much of the garbage
// collector's share. Its own switch to a native inflater (DecompressionStream) is compiled off in
// 1.44, so its one-shot `pako.inflate` is pointed at Node's zlib, which is the same zlib in C:
// same input accepted, the same bytes out, a stream's trailing bytes ignored alike.
// Only the one-shot call with no options is replaced; pako's streaming `Inflate` (the pack parser
// of a fetch) and `deflate` stay pako's.
import { createRequire } from 'node:module';
import { inflateSync } from 'node:zlib';

type Inflate = (data: Uint8Array, options?: unknown) => Uint8Array;
interface Pako {
  inflate: Inflate;
  capstanNative?: true;
}

/**
 * Points the pako that isomorphic-git loads at `zlib.inflateSync`. isomorphic-git looks
 * `pako.inflate` up at each call on the module object it holds, so this works before or after it
 * is loaded. Returns false when pako is not where isomorphic-git resolves it (nothing changed).
 */
export function useNativeInflate(from: string = import.meta.url): boolean {
  let pako: Pako;
  try {
    const requireFromGit = createRequire(createRequire(from).resolve('isomorphic-git'));
    pako = requireFromGit('pako') as Pako;
  } catch {
    return false;
  }
  if (typeof pako.inflate !== 'function') return false;
  if (pako.capstanNative) return true;
  const javascriptInflate = pako.inflate;
  pako.inflate = (data, options) => (options === undefined ? inflateSync(data) : javascriptInflate(data, options));
  pako.capstanNative = true;
  return true;
}

useNativeInflate();
