// Registry mirrors from the host policy (`mirrors: {docker.io: registry.local:5000}`): an image
// of a mirrored registry is pulled from the mirror first, under the same path and tag or digest,
// and tagged with its own name, so containers, plans and labels never see the mirror. A digest
// reference pins the content, so a mirror cannot substitute another image for it; a tag is as
// trustworthy as the mirror.
import { registryHost } from '../../load/variables/registries.js';

/** `nginx:1` with `docker.io → registry.local:5000` → `registry.local:5000/library/nginx:1`; undefined when not mirrored. */
export function mirrorReference(image: string, mirrors: Record<string, string>): string | undefined {
  const host = registryHost(image);
  const mirror = mirrors[host];
  if (mirror === undefined) return undefined;
  const slash = image.indexOf('/');
  const first = slash < 0 ? '' : image.slice(0, slash);
  const firstIsHost = first.includes('.') || first.includes(':') || first === 'localhost';
  let path = firstIsHost ? image.slice(slash + 1) : image;
  // Docker Hub's official images live under `library/`.
  if (host === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  return `${mirror}/${path}`;
}

/** Splits `repo:tag` / `repo@sha256:…` for the tag call; a bare name means `latest`. */
export function splitReference(image: string): { repo: string; tag?: string; digest?: string } {
  const at = image.indexOf('@');
  if (at >= 0) return { repo: image.slice(0, at), digest: image.slice(at + 1) };
  const colon = image.lastIndexOf(':');
  if (colon > image.lastIndexOf('/')) return { repo: image.slice(0, colon), tag: image.slice(colon + 1) };
  return { repo: image, tag: 'latest' };
}
