import Docker from 'dockerode';

// The bench's own Docker calls go straight to the engine, never through the counting proxy.
export const docker = new Docker();

async function inBatches<T>(items: readonly T[], size: number, work: (item: T) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < items.length; start += size) {
    await Promise.all(items.slice(start, start + size).map(work));
  }
}

async function ignoring(statusCodes: number[], promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (!statusCodes.includes((error as { statusCode?: number }).statusCode ?? 0)) throw error;
  }
}

/** Networks the engine would not let go, by name; reported at the end of the run. */
export const leakedNetworks = new Set<string>();

/**
 * Force-removes the containers, then the networks, carrying `label` (`key=value`). A network the
 * engine still believes in use is left behind and remembered, never thrown: see removeNetwork.
 */
export async function removeByLabel(label: string): Promise<number> {
  const filters = { label: [label] };
  const containers = await docker.listContainers({ all: true, filters });
  // 409: removal already in progress (AutoRemove or a racing sweep).
  await inBatches(containers, 16, (container) => ignoring([404, 409], docker.getContainer(container.Id).remove({ force: true, v: true })));
  for (const network of await docker.listNetworks({ filters })) {
    if (!(await removeNetwork(network.Id))) leakedNetworks.add(network.Name);
  }
  return containers.length;
}

/**
 * Right after its containers go, the engine can still count their endpoints on the network
 * (403 "has active endpoints") for a moment. Engine 20.10 can also lose count for good after
 * many containers of one network are removed at once (seen here after `docker-compose down` of
 * 100 and a sweep of 200): the network then stays until dockerd restarts, with no container
 * attached. 6 tries over about 3 s; false when it is still there.
 */
async function removeNetwork(networkId: string): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await ignoring([404], docker.getNetwork(networkId).remove());
      return true;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 403) throw error;
      if (attempt >= 6) return false;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

export async function countRunning(label: string): Promise<number> {
  const containers = await docker.listContainers({ filters: { label: [label], status: ['running'] } });
  return containers.length;
}

export async function imageExists(reference: string): Promise<boolean> {
  try {
    await docker.getImage(reference).inspect();
    return true;
  } catch {
    return false;
  }
}
