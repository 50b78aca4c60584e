// Published ports, Compose syntax → PortSpec. Short form: `[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]`,
// IPv6 host addresses in brackets (`[::1]:8080:80`). Ranges (`8000-8010:80`) are refused: each
// port becomes one binding that conflict checks and plans can name.
import { isIP } from 'node:net';
import type { PortSpec } from '../../model.js';
import type { PortManifest } from '../schema/schema.js';

export type PortResult = { port: PortSpec } | { error: string };

const RANGE_HINT = 'port ranges are not supported: list each port on its own';

function portNumber(text: string, role: string): number | string {
  if (text.includes('-')) return RANGE_HINT;
  if (!/^\d+$/.test(text)) return `${role} must be a number from 1 to 65535`;
  const value = Number(text);
  return value >= 1 && value <= 65535 ? value : `${role} must be a number from 1 to 65535`;
}

function checkHostIp(hostIp: string | undefined): string | undefined {
  if (hostIp === undefined || isIP(hostIp) !== 0) return undefined;
  return 'host address must be an IP address such as 127.0.0.1 or ::1';
}

export function parsePort(entry: PortManifest): PortResult {
  if (typeof entry === 'number') {
    const containerPort = portNumber(String(entry), 'container port');
    return typeof containerPort === 'string' ? { error: containerPort } : { port: { containerPort, protocol: 'tcp' } };
  }
  if (typeof entry === 'object') {
    const hostIpError = checkHostIp(entry.host_ip);
    if (hostIpError) return { error: hostIpError };
    const port: PortSpec = { containerPort: entry.target, protocol: entry.protocol ?? 'tcp' };
    if (entry.host_ip !== undefined) port.hostIp = entry.host_ip;
    if (entry.published !== undefined) port.hostPort = entry.published;
    return { port };
  }
  return parseShortPort(entry.trim());
}

function parseShortPort(text: string): PortResult {
  let protocol: PortSpec['protocol'] = 'tcp';
  let rest = text;
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const suffix = rest.slice(slash + 1);
    if (suffix !== 'tcp' && suffix !== 'udp') return { error: 'protocol must be tcp or udp' };
    protocol = suffix;
    rest = rest.slice(0, slash);
  }
  let hostIp: string | undefined;
  let parts: string[];
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') return { error: 'write an IPv6 host address as [ADDRESS]:PUBLISHED:TARGET' };
    hostIp = rest.slice(1, close);
    parts = rest.slice(close + 2).split(':');
    if (parts.length !== 2) return { error: 'write an IPv6 host address as [ADDRESS]:PUBLISHED:TARGET' };
  } else {
    parts = rest.split(':');
    if (parts.length > 3) return { error: 'too many \':\'; write an IPv6 host address in brackets: [::1]:8080:80' };
    if (parts.length === 3) hostIp = parts.shift();
  }
  const hostIpError = checkHostIp(hostIp);
  if (hostIpError) return { error: hostIpError };
  const containerPort = portNumber(parts[parts.length - 1], 'container port');
  if (typeof containerPort === 'string') return { error: containerPort };
  const port: PortSpec = { containerPort, protocol };
  if (hostIp !== undefined) port.hostIp = hostIp;
  // `127.0.0.1::80` publishes on a port Docker picks, bound to one address.
  if (parts.length === 2 && parts[0] !== '') {
    const hostPort = portNumber(parts[0], 'host port');
    if (typeof hostPort === 'string') return { error: hostPort };
    port.hostPort = hostPort;
  }
  return { port };
}
