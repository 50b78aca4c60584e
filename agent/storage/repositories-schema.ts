// The policy file's `repositories:` (TypeBox, for the generated host-policy schema only; the
// agent validates against the generated JSON). Checked further by repositories.ts.
import { Type, type Static } from '@sinclair/typebox';

export const RepositoriesFile = Type.Record(
  Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' }),
  Type.Object(
    {
      path: Type.Optional(Type.String({ pattern: '^/', description: 'A local or mounted folder (NFS, USB disk) holding the restic repository.' })),
      sftp: Type.Optional(Type.String({ pattern: '^[^\\s]+:.+$', description: 'An SFTP location, `user@host:/srv/restic` (keys from the agent user\'s ~/.ssh).' })),
      s3: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: 'An S3-compatible endpoint with bucket and path, `https://s3.example.com/bucket/capstan`.' })),
      password_file: Type.Optional(Type.String({ pattern: '^/', description: 'File holding the repository password (RESTIC_PASSWORD_FILE).' })),
      password_env: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'Environment variable of the agent holding the repository password.' })),
      access_key_id_env: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'S3: environment variable holding the access key id.' })),
      secret_access_key_env: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'S3: environment variable holding the secret access key.' })),
    },
    { additionalProperties: false },
  ),
  { description: 'Restic repositories volume snapshots may name (`volumes.X.snapshot.repository`): exactly one of `path`, `sftp`, `s3`, and one of `password_file`, `password_env`.' },
);
export type RepositoriesFile = Static<typeof RepositoriesFile>;

