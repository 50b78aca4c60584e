// What image update automation asks of a registry, outbound and cheap (Distribution API v2):
// a manifest HEAD for a tag's digest (`Docker-Content-Digest`), and the tag list, paginated by
// its `Link` header. Nothing is pulled: an image is pulled only when a rollout deploys it.
// Credentials are the ones pulls use (targets/registry-auth.ts); a Bearer challenge is answered
// with a token from the realm it names, as Docker does. A 429 or 503 ends the check with the
// server's Retry-After, which the caller honours before asking again. No credential, token or
// URL with a token ever reaches an error message.
import { createHash } from 'node:crypto';
import { registryHost } from '../load/variables/registries.js';
import { parseRetryAfter } from '../source/poll.js';
import type { AuthConfig } from '../targets/registry-auth.js';

/** Manifests as Docker asks for them: a multi-platform index first, then single manifests. */
const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** Bounds, so a hostile or broken registry cannot stall a cycle or fill memory. */
export const REGISTRY_LIMITS = {
  requestTimeoutMs: 15_000,
  /** One page of tags, a token response, a manifest read for its digest. */
  bodyBytes: 4 * 1024 * 1024,
  tagPages: 100,
  tags: 100_000,
};

export class RegistryError extends Error {
  constructor(
    message: string,
    /** When the registry said when to come back (429/503 with Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

export interface ImageName {
  /** As Docker names it: `docker.io`, `ghcr.io`, `127.0.0.1:5000`. */
  host: string;
  /** `library/nginx`, `owner/app`. */
  repository: string;
  tag: string;
  /** Where the API is: `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
  base: string;
}

/** `nginx:1.25` → docker.io, library/nginx, 1.25; a tagless name is `latest`. */
export function imageName(image: string): ImageName {
  const host = registryHost(image);
  const slash = image.indexOf('/');
  const first = slash >= 0 ? image.slice(0, slash) : '';
  const explicitHost = first.includes('.') || first.includes(':') || first === 'localhost';
  let rest = explicitHost ? image.slice(slash + 1) : image;
  const colon = rest.lastIndexOf(':');
  let tag = 'latest';
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const repository = host === 'docker.io' && !rest.includes('/') ? `library/${rest}` : rest;
  return { host, repository, tag, base: apiBase(host) };
}

/** Docker talks plain HTTP to a registry on the loopback (insecure by default), HTTPS elsewhere. */
function apiBase(host: string): string {
  if (host === 'docker.io') return 'https://registry-1.docker.io';
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:[0-9]+$/, '');
  const loopback = name === 'localhost' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(name) || name === '[::1]';
  return `${loopback ? 'http' : 'https'}://${host}`;
}

export interface RegistryClientDeps {
  fetch: typeof fetch;
  now: () => number;
}

/** One client per check of one image: it remembers the token its registry handed out. */
export class RegistryClient {
  private authorization: string | undefined;

  constructor(
    private readonly name: ImageName,
    private readonly auth: AuthConfig | undefined,
    private readonly deps: RegistryClientDeps,
  ) {}

  /** The digest the registry serves for `tag` now (a HEAD; a GET only if the HEAD has no digest header). */
  async digest(tag: string): Promise<string> {
    const url = `${this.name.base}/v2/${this.name.repository}/manifests/${encodeURIComponent(tag)}`;
    const head = await this.request(url, 'HEAD', MANIFEST_TYPES);
    const header = head.headers.get('docker-content-digest');
    if (header && /^sha256:[a-f0-9]{64}$/.test(header)) return header;
    const got = await this.request(url, 'GET', MANIFEST_TYPES);
    return `sha256:${createHash('sha256').update(await boundedBody(got, 'manifest')).digest('hex')}`;
  }

  /** Every tag of the repository, page after page (`Link: <…>; rel="next"`), within the bounds. */
  async tags(): Promise<string[]> {
    const tags: string[] = [];
    let url: string | undefined = `${this.name.base}/v2/${this.name.repository}/tags/list?n=1000`;
    for (let page = 0; url !== undefined; page++) {
      if (page >= REGISTRY_LIMITS.tagPages) throw new RegistryError(`${this.where()}: more than ${REGISTRY_LIMITS.tagPages} pages of tags`);
      const response = await this.request(url, 'GET', 'application/json');
      let body: { tags?: unknown };
      try {
        body = JSON.parse((await boundedBody(response, 'tag list')).toString('utf8')) as { tags?: unknown };
      } catch {
        throw new RegistryError(`${this.where()}: the tag list is not JSON`);
      }
      if (body.tags !== null && body.tags !== undefined && !Array.isArray(body.tags)) throw new RegistryError(`${this.where()}: the tag list has no tags array`);
      for (const tag of (body.tags as unknown[] | null | undefined) ?? []) if (typeof tag === 'string') tags.push(tag);
      if (tags.length > REGISTRY_LIMITS.tags) throw new RegistryError(`${this.where()}: more than ${REGISTRY_LIMITS.tags} tags`);
      url = nextLink(response.headers.get('link'), url);
    }
    return tags;
  }

  private where(): string {
    return `${this.name.host}/${this.name.repository}`;
  }

  /** One request, answering one authentication challenge; 429/503 carry Retry-After out. */
  private async request(url: string, method: 'GET' | 'HEAD', accept: string): Promise<Response> {
    let response = await this.send(url, method, accept);
    const challenge = response.status === 401 ? response.headers.get('www-authenticate') : null;
    if (challenge) {
      // A token is scoped to this repository; one answer per request (an expired token, a new scope).
      await response.body?.cancel();
      this.authorization = await this.answer(challenge);
      response = await this.send(url, method, accept);
    }
    if (response.status === 429 || response.status === 503) {
      await response.body?.cancel();
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after') ?? undefined, this.deps.now());
      throw new RegistryError(`${this.where()}: ${response.status === 429 ? 'rate limited' : 'unavailable'} (HTTP ${response.status})${retryAfterMs === undefined ? '' : `, retry after ${Math.ceil(retryAfterMs / 1000)}s`}`, retryAfterMs);
    }
    if (!response.ok) {
      await response.body?.cancel();
      const what = response.status === 404 ? 'not found' : response.status === 401 || response.status === 403 ? 'access denied (check the registry credentials)' : 'refused';
      throw new RegistryError(`${this.where()}: ${what} (HTTP ${response.status} for ${method} ${new URL(url).pathname})`);
    }
    return response;
  }

  private async send(url: string, method: string, accept: string): Promise<Response> {
    const headers: Record<string, string> = { accept };
    if (this.authorization !== undefined) headers.authorization = this.authorization;
    try {
      return await this.deps.fetch(url, { method, headers, redirect: 'follow', signal: AbortSignal.timeout(REGISTRY_LIMITS.requestTimeoutMs) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      throw new RegistryError(`${this.where()}: unreachable (${cause})`);
    }
  }

  /** `Basic realm=…` → basic credentials; `Bearer realm=…,service=…,scope=…` → a token from the realm. */
  private async answer(challenge: string): Promise<string | undefined> {
    const basic = this.auth ? `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}` : undefined;
    const scheme = challenge.trim().split(/\s+/, 1)[0].toLowerCase();
    if (scheme === 'basic') return basic;
    if (scheme !== 'bearer') return undefined;
    const params = challengeParams(challenge.trim().slice(scheme.length));
    if (!params.realm) throw new RegistryError(`${this.where()}: a Bearer challenge without a realm`);
    let realm: URL;
    try {
      realm = new URL(params.realm);
    } catch {
      throw new RegistryError(`${this.where()}: a Bearer challenge with an invalid realm`);
    }
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', params.scope ?? `repository:${this.name.repository}:pull`);
    let response: Response;
    try {
      response = await this.deps.fetch(realm, { headers: basic ? { authorization: basic } : {}, signal: AbortSignal.timeout(REGISTRY_LIMITS.requestTimeoutMs) });
    } catch (error) {
      throw new RegistryError(`${this.where()}: token service ${realm.host} unreachable (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name})`);
    }
    if (response.status === 429) {
      await response.body?.cancel();
      throw new RegistryError(`${this.where()}: token service rate limited (HTTP 429)`, parseRetryAfter(response.headers.get('retry-after') ?? undefined, this.deps.now()));
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new RegistryError(`${this.where()}: token service ${realm.host} refused (HTTP ${response.status}; check the registry credentials)`);
    }
    let body: { token?: unknown; access_token?: unknown };
    try {
      body = JSON.parse((await boundedBody(response, 'token')).toString('utf8')) as typeof body;
    } catch {
      throw new RegistryError(`${this.where()}: token service ${realm.host} answered something other than JSON`);
    }
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw new RegistryError(`${this.where()}: token service ${realm.host} gave no token`);
    return `Bearer ${token}`;
  }
}

/** `realm="https://auth.docker.io/token",service="registry.docker.io"` → its parameters. */
function challengeParams(text: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const match of text.matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[match[1].toLowerCase()] = match[2];
  return params;
}

/** The `rel="next"` target of a Link header, resolved against the page's URL. */
export function nextLink(header: string | null, current: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const match = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(part);
    if (match) return new URL(match[1], current).toString();
  }
  return undefined;
}

async function boundedBody(response: Response, what: string): Promise<Buffer> {
  const reader = response.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > REGISTRY_LIMITS.bodyBytes) {
      await reader.cancel();
      throw new RegistryError(`the registry's ${what} is larger than ${REGISTRY_LIMITS.bodyBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
