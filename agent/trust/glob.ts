/**
 * Shell-style glob on a whole name: `*` any run of characters (slashes included, as in
 * `git tag --list`), `?` exactly one; everything else is literal. `v*` matches `v1.2.0` and
 * `v2/rc1`, not `release-v1`.
 */
export function globMatches(pattern: string, name: string): boolean {
  const source = [...pattern]
    .map((character) => (character === '*' ? '.*' : character === '?' ? '.' : character.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 's').test(name);
}
