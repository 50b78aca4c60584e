import type { Key } from 'openpgp';
import type { TrustErrorCode } from './errors.js';

/** One `allowed_signers` line: who may sign, with which SSH key, for which namespaces, when. */
export interface SshSigner {
  kind: 'ssh';
  /** Principals as written (patterns allowed), e.g. `alice@example.com`. */
  principals: string[];
  keyType: string;
  /** The public key in SSH wire format, exactly as the base64 field decodes. */
  publicKey: Buffer;
  /** `SHA256:…`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** From `namespaces="…"`; undefined means any namespace. */
  namespaces?: string[];
  validAfter?: Date;
  validBefore?: Date;
  /** 1-based line of the trust file. */
  line: number;
}

/** One OpenPGP public key (with its subkeys) from an armored block of the trust file. */
export interface OpenPgpSigner {
  kind: 'openpgp';
  /** Primary key fingerprint, upper-case hex, as `gpg --fingerprint` prints it. */
  fingerprint: string;
  /** Fingerprints of the primary key and every subkey, upper-case hex. */
  keyFingerprints: string[];
  userIds: string[];
  key: Key;
  /** 1-based line where its armored block starts. */
  line: number;
}

/** An `@revoked` line: a key refused even when listed elsewhere in the file. */
export interface RevokedKey {
  kind: 'revoked';
  /** `SHA256:…` for an SSH key, upper-case hex for an OpenPGP key or subkey. */
  fingerprint: string;
  line: number;
}

export type TrustedSigner = SshSigner | OpenPgpSigner | RevokedKey;

export interface TrustPolicy {
  signers: TrustedSigner[];
  /** `commit`: the branch head must be signed. `tag`: a signed annotated tag must name it. */
  mode: 'commit' | 'tag';
  /** Glob on the tag's name (`*` any run of characters, `?` one); default `*`. Tag mode only. */
  tagPattern?: string;
  /** When false, a head older than the applied commit is refused (see rewind.ts). */
  allowRewind: boolean;
}

export type SignatureFormat = 'ssh' | 'openpgp' | 'x509' | 'unknown';

/** Who signed, as reported in status and logs. Public information only. */
export interface SignerIdentity {
  format: SignatureFormat;
  /** `SHA256:…` (SSH) or primary key fingerprint (OpenPGP). */
  fingerprint: string;
  /** The OpenPGP subkey that made the signature, when it is not the primary key. */
  signingKeyFingerprint?: string;
  /** The allowed_signers principals, or the OpenPGP user IDs. */
  identities: string[];
}

export interface Verified {
  commit: string;
  mode: 'commit' | 'tag';
  signer: SignerIdentity;
  /** Tag mode: the name of the signed tag that vouches for the commit. */
  tag?: string;
  /** Committer time of the verified commit, ISO 8601 UTC (for the next rewind check). */
  committedAt: string;
}

/** What checking one signature found; the SSH and OpenPGP verifiers both return it. */
export type SignatureVerdict =
  | { ok: true; signer: SignerIdentity }
  | {
      ok: false;
      code: typeof TrustErrorCode.unsignedCommit | typeof TrustErrorCode.untrustedSigner
        | typeof TrustErrorCode.badSignature | typeof TrustErrorCode.revokedKey;
      /** Short, public: which check failed and why. */
      reason: string;
      format?: SignatureFormat;
      /** The key that signed, when it can be told (always for SSH; the issuer for OpenPGP). */
      fingerprint?: string;
    };
