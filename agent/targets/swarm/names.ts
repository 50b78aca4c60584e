// Swarm object names, in one place. Services follow `docker stack` (`<app>_<service>`), so
// people coming from stacks recognise them in `docker service ls`; networks are the same
// `<app>_default` the containers target uses (see agent/names.ts), so a manifest's services
// reach each other by the same names on either target.
import { createHmac } from 'node:crypto';

/** Swarm's own rule for service names (a DNS label), and its length limit. */
const SERVICE_NAME = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;
const SERVICE_NAME_MAX = 63;
/** Secret and config names: 64 characters at most. */
const OBJECT_NAME_MAX = 64;

export function swarmServiceName(app: string, service: string): string {
  return `${app}_${service}`;
}

/** Why Swarm would refuse the service name, or undefined when it is fine. */
export function serviceNameProblem(name: string): string | undefined {
  if (name.length > SERVICE_NAME_MAX) return `'${name}' is ${name.length} characters; Swarm allows ${SERVICE_NAME_MAX} for <app>_<service>`;
  if (!SERVICE_NAME.test(name)) return `'${name}' is not a valid Swarm service name (letters and digits, '-' or '_' between them)`;
  return undefined;
}

/**
 * A secret version's name: `<app>_<service>_<16 hex>`, the hex an HMAC (under the state dir's
 * hash key) of the file's target and value. A new value is a new name, which is how Swarm
 * rotates secrets (they are immutable); keyed, so the name reveals nothing about a short value.
 */
export function secretName(app: string, service: string, target: string, value: string, hashKey: Uint8Array): string {
  const digest = createHmac('sha256', hashKey).update(`${app}\0${service}\0${target}\0${value}`).digest('hex').slice(0, 16);
  return `${fitPrefix(`${app}_${service}`, digest)}_${digest}`;
}

/** A repository file as a Swarm config, named by its content digest (`sha256:<hex>`), shared by the app's services. */
export function configName(app: string, contentDigest: string): string {
  const digest = contentDigest.replace(/^sha256:/, '').slice(0, 16);
  return `${fitPrefix(`${app}_file`, digest)}_${digest}`;
}

// Long app and service names are cut, never the digest that makes the name unique. The cut
// prefix must still end in a letter or digit, as Swarm wants inside a name.
function fitPrefix(prefix: string, digest: string): string {
  const room = OBJECT_NAME_MAX - digest.length - 1;
  return prefix.length <= room ? prefix : prefix.slice(0, room).replace(/[-_.]+$/, '');
}
