import git from '../git.js';

type Fs = typeof import('node:fs');

/** A commit split the way git splits it to verify: the signature, and the bytes it covers. */
export interface SignedCommit {
  oid: string;
  /** The commit object without its `gpgsig` header: what the signer signed. */
  payload: Buffer;
  /** The armored signature; undefined when the commit is unsigned. */
  signature?: string;
  /** Set when the object carries two `gpgsig` headers, which no git client writes. */
  malformed?: string;
  /** Committer time, seconds since the epoch (covered by the signature). */
  committerTime: number;
  parents: string[];
}

export interface SignedTag {
  oid: string;
  payload: Buffer;
  signature?: string;
  /** From the signed content, never from the ref name, which anyone who can push can set. */
  tagName: string;
  object: string;
  objectType: string;
}

/** Lines that start a signature inside a tag body (git's gpg-interface.c sigs[] table). */
const signatureStarts = [
  '-----BEGIN PGP SIGNATURE-----',
  '-----BEGIN PGP MESSAGE-----',
  '-----BEGIN SSH SIGNATURE-----',
  '-----BEGIN SIGNED MESSAGE-----',
];

export async function readRawObject(fs: Fs, gitdir: string, oid: string, expectedType: 'commit' | 'tag'): Promise<Buffer> {
  const { type, object } = await git.readObject({ fs, gitdir, oid, format: 'content' });
  if (type !== expectedType) throw new Error(`object ${oid} is a ${type}, not a ${expectedType}`);
  return Buffer.from(object as Uint8Array);
}

/**
 * As git's parse_buffer_signed_by_header: in the header block (up to the first empty line), a
 * `gpgsig ` header and its continuation lines (each starting with one space) are the signature;
 * everything else, in order, is the payload. `gpgsig-sha256` (the SHA-256 twin of a signature
 * for repositories in transition) is dropped from the payload too and not checked.
 */
export function splitSignedCommit(oid: string, raw: Buffer): SignedCommit {
  const lines = splitLines(raw.toString('latin1'));
  let payload = '';
  const signatures: string[] = [];
  let inHeader = true;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index];
    if (inHeader && (line.startsWith('gpgsig ') || line.startsWith('gpgsig-sha256 '))) {
      let value = line.slice(line.indexOf(' ') + 1);
      while (index + 1 < lines.length && lines[index + 1].startsWith(' ')) value += lines[++index].slice(1);
      if (line.startsWith('gpgsig ')) signatures.push(value);
      continue;
    }
    if (inHeader && line === '\n') inHeader = false;
    payload += line;
  }
  const headerText = payload.slice(0, Math.max(0, payload.indexOf('\n\n')));
  const committer = /^committer .* (\d+) [+-]\d{4}$/m.exec(headerText);
  const parents = [...headerText.matchAll(/^parent ([0-9a-f]{40})$/gm)].map((match) => match[1]);
  return {
    oid,
    payload: Buffer.from(payload, 'latin1'),
    signature: signatures[0],
    malformed: signatures.length > 1 ? 'the commit carries more than one gpgsig header' : undefined,
    committerTime: committer ? Number(committer[1]) : 0,
    parents,
  };
}

/**
 * As git's parse_signed_buffer: the signature starts at the LAST line that opens one, so a
 * message quoting an armor block earlier on stays part of the signed payload.
 */
export function splitSignedTag(oid: string, raw: Buffer): SignedTag {
  const text = raw.toString('latin1');
  let signatureStart = text.length;
  let lineStart = 0;
  while (lineStart < text.length) {
    if (signatureStarts.some((start) => text.startsWith(start, lineStart))) signatureStart = lineStart;
    const newline = text.indexOf('\n', lineStart);
    lineStart = newline < 0 ? text.length : newline + 1;
  }
  const payload = text.slice(0, signatureStart);
  const headerText = payload.slice(0, Math.max(0, payload.indexOf('\n\n')));
  const header = (name: string) => new RegExp(`^${name} (.*)$`, 'm').exec(headerText)?.[1] ?? '';
  return {
    oid,
    payload: Buffer.from(payload, 'latin1'),
    signature: signatureStart < text.length ? text.slice(signatureStart) : undefined,
    tagName: header('tag'),
    object: header('object'),
    objectType: header('type'),
  };
}

/** Lines with their `\n` kept, so joining them gives back the exact bytes. */
function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}
