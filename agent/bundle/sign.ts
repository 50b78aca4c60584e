import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { SignatureVerdict } from '../trust/types.js';
import { checkSignature } from '../trust/verify-signature.js';
import type { TrustedSigner } from '../trust/types.js';
import { execTool } from './exec.js';
import { SSH_NAMESPACE } from './format.js';

/**
 * Signs `indexFile` with the tool people already sign commits with: `--sign-key` a private SSH
 * key file (`ssh-keygen -Y sign`, namespace `capstan-bundle`), or an OpenPGP key ID or
 * fingerprint from the user's GnuPG keyring (`gpg --detach-sign --armor`). Returns the armored
 * signature. The key never passes through Capstan.
 */
export async function signIndex(indexFile: string, signKey: string): Promise<string> {
  if (existsSync(signKey)) {
    await execTool('ssh-keygen', ['-q', '-Y', 'sign', '-f', signKey, '-n', SSH_NAMESPACE, indexFile], { timeoutMs: 5 * 60_000 });
    return readFile(`${indexFile}.sig`, 'utf8');
  }
  const keyId = signKey.replace(/^(gpg|openpgp):/, '');
  if (!/^(0x)?([0-9A-Fa-f]{16}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/.test(keyId) && !/^(gpg|openpgp):/.test(signKey)) {
    throw new Error(`--sign-key ${signKey}: neither a private SSH key file nor an OpenPGP key ID or fingerprint (gpg:<fingerprint>)`);
  }
  const { stdout } = await execTool('gpg', ['--batch', '--armor', '--detach-sign', '--local-user', keyId, '--output', '-', indexFile], { timeoutMs: 5 * 60_000 });
  return stdout;
}

/** The index signature against the site's trust file, with the checks commits get (revocation, expiry, namespaces). */
export function verifyIndex(indexBytes: Buffer, signature: string, signers: TrustedSigner[], now: Date): Promise<SignatureVerdict> {
  return checkSignature({ payload: indexBytes, signature }, signers, now, SSH_NAMESPACE);
}
