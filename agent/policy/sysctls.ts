// Which sysctls a container may set. Docker namespaces the `net.*` ones per container (each has
// its own network stack), so setting them changes nothing outside it; every other one, even those
// Docker accepts (the IPC ones, `kernel.shm*`, `fs.mqueue.*`), is for the host's owner to allow.

/** `net/ipv4/ip_forward` and `net.ipv4.ip_forward` name the same sysctl. */
export function sysctlName(name: string): string {
  return name.replace(/\//g, '.');
}

export function isNetSysctl(name: string): boolean {
  return sysctlName(name).startsWith('net.');
}

/** An entry of `allowed_sysctls`: a name, or `prefix.*` for every name under it. */
export function sysctlAllowed(name: string, allowed: string[]): boolean {
  const dotted = sysctlName(name);
  return allowed.some((entry) => (entry.endsWith('.*') ? dotted.startsWith(entry.slice(0, -1)) : dotted === entry));
}
