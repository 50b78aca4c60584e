import { gcm } from '@noble/ciphers/aes.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import { secretsError } from '../errors.js';
import { openAgeStanza, openPgpStanza, type SopsKeys } from './keys.js';
import { describeKey, readMetadata, type EncryptionRule, type MasterKey, type SopsMetadata } from './metadata.js';
import { parseSopsTree, type SopsFormat, type SopsMap, type SopsNode, type SopsScalarValue } from './tree.js';

// Decrypting a SOPS file as `sops --decrypt` does (getsops/sops sops.go, aes/cipher.go,
// cmd/sops/common): recover the data key from a key group, decrypt every value that the file's
// rule says is encrypted with AES-256-GCM under the data key and the value's key path
// (`a:b:` for a.b) as associated data, hash the plaintext leaves in file order with SHA-512,
// and compare with the file's MAC (itself encrypted under `lastmodified`). Unlike Flux, a
// missing or wrong MAC always fails: nothing is returned unless every check passes.

/** A decrypted leaf: its key path, line, and value as SOPS types it. Holds plaintext: never log it. */
export interface SopsLeaf {
  path: string[];
  line: number;
  value: SopsScalarValue;
  /** Encrypted in the file (a secret), or left in the clear by the file's rule. */
  encrypted: boolean;
}

export interface DecryptedSops {
  format: SopsFormat;
  /** The decrypted trees (one per YAML document), same shape as the file without `sops`. */
  branches: SopsMap[];
  leaves: SopsLeaf[];
  metadata: SopsMetadata;
  /** Which master key opened each key group, for messages and `doctor`. */
  openedWith: string[];
}

const ENCRYPTED = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]/;
/** sha256("sops"): the MAC starts with these bytes when `mac_only_encrypted` is set (sops.go). */
const MAC_ONLY_ENCRYPTED_INIT = Buffer.from('8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69', 'hex');

export async function decryptSops(input: { text: string; file: string; keys: SopsKeys }): Promise<DecryptedSops> {
  const { file, keys } = input;
  const tree = parseSopsTree(input.text, file);
  if (tree.metadata === undefined) {
    throw secretsError('SOPS_TAMPERED', `${file}: SOPS-encrypted values but no sops metadata: the metadata was removed or the file is damaged`, { file });
  }
  const metadata = readMetadata(tree.metadata, file, tree.metadataLine);
  const { dataKey, openedWith } = await recoverDataKey(metadata, keys, file, tree.metadataLine);

  const hash = createHash('sha512');
  if (metadata.macOnlyEncrypted) hash.update(MAC_ONLY_ENCRYPTED_INIT);
  const leaves: SopsLeaf[] = [];
  const branches = tree.branches.map((branch) => walkMap(branch, [], (value, path, line) => {
    const encrypted = shouldBeEncrypted(path, metadata.rule);
    let plain: SopsScalarValue = value;
    if (encrypted) {
      if (typeof value !== 'string') {
        throw secretsError('SOPS_TAMPERED', `${file}:${line}: ${keyName(path)}: expected an encrypted value, found a plain ${value === null ? 'null' : typeof value}`, {
          file,
          line,
          variable: keyName(path),
        });
      }
      plain = decryptValue(value, dataKey, path.join(':') + ':', { file, line, path });
    }
    // `null` is left alone by SOPS and is not part of the MAC.
    if (plain !== null && (!metadata.macOnlyEncrypted || encrypted)) hash.update(macBytes(plain));
    if (plain !== null) leaves.push({ path, line, value: plain, encrypted });
    return plain;
  }));

  const place = { file, line: tree.metadataLine, variable: 'sops.mac' };
  if (metadata.mac === '') throw secretsError('SOPS_TAMPERED', `${file}:${tree.metadataLine}: the file has no MAC (sops.mac): it was removed or never written; Capstan does not read SOPS files without one`, place);
  let fileMac: SopsScalarValue;
  try {
    fileMac = decryptValue(metadata.mac, dataKey, metadata.lastModified, { file, line: tree.metadataLine, path: ['sops', 'mac'] });
  } catch {
    throw secretsError('SOPS_TAMPERED', `${file}:${tree.metadataLine}: the MAC does not decrypt (sops.mac or sops.lastmodified was changed)`, place);
  }
  const computed = Buffer.from(hash.digest('hex').toUpperCase());
  const written = Buffer.from(String(fileMac));
  if (computed.length !== written.length || !timingSafeEqual(computed, written)) {
    throw secretsError('SOPS_TAMPERED', `${file}: the MAC does not match: a value was changed, added, removed or reordered since the file was encrypted`, { file });
  }
  return { format: tree.format, branches, leaves, metadata, openedWith };
}

/** Which key opens the file's data key, without decrypting any value (`capstan doctor`); throws as decryptSops does. */
export async function openSopsDataKey(input: { text: string; file: string; keys: SopsKeys }): Promise<string[]> {
  const tree = parseSopsTree(input.text, input.file);
  if (tree.metadata === undefined) throw secretsError('SOPS_TAMPERED', `${input.file}: SOPS-encrypted values but no sops metadata`, { file: input.file });
  const metadata = readMetadata(tree.metadata, input.file, tree.metadataLine);
  return (await recoverDataKey(metadata, input.keys, input.file, tree.metadataLine)).openedWith;
}

type LeafVisitor = (value: SopsScalarValue, path: string[], line: number) => SopsScalarValue;

/** sops.go walkBranch: list items keep their parent's path; comments are not in the tree. */
function walkMap(map: SopsMap, path: string[], visit: LeafVisitor): SopsMap {
  return { ...map, items: map.items.map((item) => ({ ...item, value: walkNode(item.value, [...path, item.key], visit) })) };
}

function walkNode(node: SopsNode, path: string[], visit: LeafVisitor): SopsNode {
  if (node.kind === 'map') return walkMap(node, path, visit);
  if (node.kind === 'list') return { ...node, items: node.items.map((item) => walkNode(item, path, visit)) };
  return { ...node, value: node.value === null ? null : visit(node.value, path, node.line) };
}

/** sops.go shouldBeEncrypted, for the key-based rules (comment rules are refused in metadata.ts). */
export function shouldBeEncrypted(path: string[], rule: EncryptionRule): boolean {
  switch (rule.kind) {
    case 'unencrypted_suffix':
      return !path.some((key) => key.endsWith(rule.suffix));
    case 'encrypted_suffix':
      return path.some((key) => key.endsWith(rule.suffix));
    case 'unencrypted_regex':
      return !path.some((key) => rule.pattern.test(key));
    case 'encrypted_regex':
      return path.some((key) => rule.pattern.test(key));
  }
}

function keyName(path: string[]): string {
  return path.join('.');
}

/** aes/cipher.go Decrypt: '' stays ''; else AES-256-GCM with the IV as written (32 bytes). */
function decryptValue(ciphertext: string, dataKey: Uint8Array, aad: string, place: { file: string; line: number; path: string[] }): SopsScalarValue {
  if (ciphertext === '') return '';
  const variable = keyName(place.path);
  const fail = (problem: string) => secretsError('SOPS_TAMPERED', `${place.file}:${place.line}: ${variable}: ${problem}`, { file: place.file, line: place.line, variable });
  const match = ENCRYPTED.exec(ciphertext);
  if (!match) throw fail('expected an encrypted value (ENC[AES256_GCM,…]), found plaintext: the file was edited without SOPS');
  const [data, iv, tag] = [match[1], match[2], match[3]].map((part) => Buffer.from(part, 'base64'));
  if (iv.length < 12 || tag.length !== 16) throw fail('the encrypted value is damaged');
  let plain: Uint8Array;
  try {
    plain = gcm(dataKey, iv, new TextEncoder().encode(aad)).decrypt(Buffer.concat([data, tag]));
  } catch {
    throw fail('the value does not decrypt under this key path (changed, or moved from another key)');
  }
  const text = Buffer.from(plain).toString('utf8');
  switch (match[4]) {
    case 'str':
    case 'bytes':
    case 'time':
    case 'comment':
      return text;
    case 'int':
      if (!/^[+-]?\d+$/.test(text)) throw fail('an int value that is not a number');
      return BigInt(text);
    case 'float': {
      const number = Number(text);
      if (Number.isNaN(number) && text !== 'NaN') throw fail('a float value that is not a number');
      return number;
    }
    case 'bool':
      if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
      if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
      throw fail('a bool value that is not true or false');
    default:
      throw fail(`unknown value type ${JSON.stringify(match[4].slice(0, 20))}`);
  }
}

/** sops.go ToBytes: how a plaintext leaf enters the MAC. */
function macBytes(value: Exclude<SopsScalarValue, null>): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (typeof value === 'boolean') return Buffer.from(value ? 'True' : 'False');
  if (typeof value === 'bigint') return Buffer.from(value.toString());
  return Buffer.from(goFormatFloat(value));
}

/** strconv.FormatFloat(v, 'f', -1, 64): shortest digits, never an exponent. */
export function goFormatFloat(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  const shortest = String(value);
  if (!/e/i.test(shortest)) return shortest === '-0' ? '-0' : shortest;
  const [mantissa, exponentText] = shortest.toLowerCase().split('e');
  const exponent = Number(exponentText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const pointAt = (mantissa.replace('-', '').indexOf('.') === -1 ? mantissa.replace('-', '').length : mantissa.replace('-', '').indexOf('.')) + exponent;
  const body = pointAt <= 0 ? `0.${'0'.repeat(-pointAt)}${digits}` : pointAt >= digits.length ? digits + '0'.repeat(pointAt - digits.length) : `${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
  return (negative ? '-' : '') + body;
}

/**
 * sops.go GetDataKeyWithKeyServices: one group gives the data key; several are Shamir parts
 * (HashiCorp Vault's scheme, which SOPS copies), `shamir_threshold` of them needed.
 */
async function recoverDataKey(metadata: SopsMetadata, keys: SopsKeys, file: string, line: number): Promise<{ dataKey: Uint8Array; openedWith: string[] }> {
  const parts: Uint8Array[] = [];
  const openedWith: string[] = [];
  const groupFailures: string[] = [];
  for (const group of metadata.keyGroups) {
    const opened = await openGroup(group, keys);
    if (opened) {
      parts.push(opened.part);
      openedWith.push(describeKey(opened.key));
    } else {
      groupFailures.push(group.map(describeKey).join(', ') || '(empty group)');
    }
  }
  const groups = metadata.keyGroups.length;
  const needed = groups === 1 ? 1 : metadata.shamirThreshold || groups;
  if (parts.length < needed) {
    const held = [keys.age.length > 0 ? `${keys.age.length} age identit${keys.age.length === 1 ? 'y' : 'ies'} from ${keys.ageSource}` : '', keys.pgp.length > 0 ? `${keys.pgp.length} OpenPGP key(s) from ${keys.pgpSource}` : '']
      .filter(Boolean)
      .join(' and ') || 'no SOPS keys (set CAPSTAN_AGE_KEY_FILE or CAPSTAN_SOPS_PGP_KEY_FILE)';
    const which = groups === 1 ? `it is encrypted for ${groupFailures[0]}` : `${needed} of its ${groups} key groups are needed and ${parts.length} could be opened; not opened: ${groupFailures.join(' | ')}`;
    throw secretsError('SOPS_NO_MATCHING_KEY', `${file}:${line}: no key on this host opens the file: ${which}; this host holds ${held}`, {
      file,
      line,
      variable: 'sops',
    });
  }
  if (groups === 1) {
    if (parts[0].length !== 32) throw secretsError('SOPS_MALFORMED', `${file}:${line}: the data key is not 32 bytes`, { file, line });
    return { dataKey: parts[0], openedWith };
  }
  let dataKey: Uint8Array;
  try {
    const { combine } = await import('shamir-secret-sharing');
    dataKey = await combine(parts);
  } catch {
    throw secretsError('SOPS_MALFORMED', `${file}:${line}: the key groups' Shamir parts do not combine`, { file, line });
  }
  // Too few or wrong parts combine to a wrong key: the MAC check then fails the file.
  if (dataKey.length !== 32) throw secretsError('SOPS_MALFORMED', `${file}:${line}: the data key is not 32 bytes`, { file, line });
  return { dataKey, openedWith };
}

async function openGroup(group: MasterKey[], keys: SopsKeys): Promise<{ part: Uint8Array; key: MasterKey } | undefined> {
  for (const key of group) {
    let part: Uint8Array | undefined;
    if (key.type === 'age') part = await openAgeStanza(key.enc, key.recipient, keys);
    else if (key.type === 'pgp') part = await openPgpStanza(key.enc, keys);
    if (part) return { part, key };
  }
  return undefined;
}
