// SOPS files for tests, built as SOPS writes them (getsops/sops sops.go, aes/cipher.go,
// stores/): a random data key wrapped for age recipients by Debian's `age` CLI, values sealed
// with AES-256-GCM under their key path, the SHA-512 MAC sealed under `lastmodified`. The
// decryptor is checked against files SOPS itself wrote (test/fixtures/sops), so files from here
// that it accepts follow the same format. Test-only: Capstan never writes SOPS files.
import { gcm } from '@noble/ciphers/aes.js';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { split } from 'shamir-secret-sharing';
import { stringify } from 'yaml';

export interface AgeKeyPair {
  /** A key file as age-keygen writes it, mode 0600. */
  file: string;
  recipient: string;
}

export function ageKeygen(dir: string, name = 'age.key'): AgeKeyPair {
  const file = join(dir, name);
  execFileSync('age-keygen', ['-o', file], { stdio: ['ignore', 'ignore', 'ignore'] });
  chmodSync(file, 0o600);
  const recipient = /# public key: (age1[0-9a-z]+)/.exec(readFileSync(file, 'utf8'))?.[1];
  if (!recipient) throw new Error(`age-keygen wrote no public key to ${file}`);
  return { file, recipient };
}

/** `age -a -r …`: the armored age file SOPS stores as `enc`. */
export function ageEncrypt(recipients: string[], data: Uint8Array): string {
  const args = ['-a', ...recipients.flatMap((recipient) => ['-r', recipient])];
  return execFileSync('age', args, { input: data }).toString('utf8');
}

export type SopsValue = string | { [key: string]: SopsValue };

export interface SopsFileSpec {
  format: 'yaml' | 'json' | 'dotenv';
  values: Record<string, SopsValue>;
  /** One key group (most files), or several for Shamir. */
  keyGroups: string[][];
  shamirThreshold?: number;
  /** Default `unencrypted_suffix: _unencrypted`, as SOPS writes when no rule is given. */
  rule?: { unencrypted_suffix?: string; encrypted_suffix?: string; unencrypted_regex?: string; encrypted_regex?: string };
  lastModified?: string;
  /** MAC only the encrypted values (SOPS's mac_only_encrypted), starting from sha256("sops"). */
  macOnlyEncrypted?: boolean;
}

function seal(dataKey: Uint8Array, plaintext: string, aad: string): string {
  if (plaintext === '') return '';
  const iv = randomBytes(32);
  const sealed = gcm(dataKey, iv, Buffer.from(aad)).encrypt(Buffer.from(plaintext));
  const data = Buffer.from(sealed.subarray(0, sealed.length - 16)).toString('base64');
  const tag = Buffer.from(sealed.subarray(sealed.length - 16)).toString('base64');
  return `ENC[AES256_GCM,data:${data},iv:${iv.toString('base64')},tag:${tag},type:str]`;
}

/** Go's `(?i)` prefix as a JavaScript flag. */
function goRegExp(source: string): RegExp {
  return source.startsWith('(?i)') ? new RegExp(source.slice(4), 'i') : new RegExp(source);
}

function encryptedByRule(path: string[], rule: NonNullable<SopsFileSpec['rule']>): boolean {
  if (rule.encrypted_suffix) return path.some((key) => key.endsWith(rule.encrypted_suffix!));
  if (rule.unencrypted_regex) return !path.some((key) => goRegExp(rule.unencrypted_regex!).test(key));
  if (rule.encrypted_regex) return path.some((key) => goRegExp(rule.encrypted_regex!).test(key));
  const suffix = rule.unencrypted_suffix ?? '_unencrypted';
  return !path.some((key) => key.endsWith(suffix));
}

export async function buildSopsFile(spec: SopsFileSpec): Promise<string> {
  const dataKey = randomBytes(32);
  const rule = spec.rule ?? { unencrypted_suffix: '_unencrypted' };
  const lastModified = spec.lastModified ?? '2026-01-02T03:04:05Z';
  const hash = createHash('sha512');
  if (spec.macOnlyEncrypted) hash.update(createHash('sha256').update('sops').digest());
  const encryptTree = (values: Record<string, SopsValue>, path: string[]): Record<string, SopsValue> =>
    Object.fromEntries(
      Object.entries(values).map(([key, value]) => {
        const at = [...path, key];
        if (typeof value !== 'string') return [key, encryptTree(value, at)];
        const encrypted = encryptedByRule(at, rule);
        if (encrypted || !spec.macOnlyEncrypted) hash.update(value);
        return [key, encrypted ? seal(dataKey, value, at.join(':') + ':') : value];
      }),
    );
  const encrypted = encryptTree(spec.values, []);
  const mac = seal(dataKey, hash.digest('hex').toUpperCase(), lastModified);

  const parts = spec.keyGroups.length === 1 ? [dataKey] : await split(new Uint8Array(dataKey), spec.keyGroups.length, spec.shamirThreshold ?? spec.keyGroups.length);
  const groups = spec.keyGroups.map((recipients, index) => ({
    age: recipients.map((recipient) => ({ recipient, enc: ageEncrypt([recipient], parts[index]) })),
  }));
  const metadata: Record<string, unknown> = spec.keyGroups.length === 1 ? { age: groups[0].age } : { key_groups: groups, shamir_threshold: spec.shamirThreshold ?? spec.keyGroups.length };
  Object.assign(metadata, { lastmodified: lastModified, mac, ...rule, ...(spec.macOnlyEncrypted ? { mac_only_encrypted: true } : {}), version: '3.9.4' });

  if (spec.format === 'yaml') return stringify({ ...encrypted, sops: metadata }, { indent: 4, lineWidth: 0 });
  if (spec.format === 'json') return JSON.stringify({ ...encrypted, sops: metadata }, null, '\t') + '\n';
  const lines = Object.entries(encrypted).map(([key, value]) => `${key}=${String(value).replaceAll('\n', '\\n')}`);
  for (const [key, value] of flatten(metadata, 'sops_')) lines.push(`${key}=${value.replaceAll('\n', '\\n')}`);
  return lines.join('\n') + '\n';
}

/** stores/flatten.go: nested metadata as `sops_age__list_0__map_enc` keys. */
function flatten(value: unknown, prefix: string): Array<[string, string]> {
  if (Array.isArray(value)) return value.flatMap((item, index) => flatten(item, `${prefix}__list_${index}`));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([key, item]) => flatten(item, prefix.endsWith('_') && !prefix.endsWith('__') ? `${prefix}${key}` : `${prefix}__map_${key}`));
  }
  return [[prefix, String(value)]];
}
