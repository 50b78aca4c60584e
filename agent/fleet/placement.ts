import type { App, DesiredState, PlacementSpec } from '../model.js';

// Fleet mode: every agent pulls the same repository and converges only its own share. A node
// is a name plus labels from the agent's configuration; placement selects nodes by either.

export interface NodeIdentity {
  name: string;
  labels: Record<string, string>;
}

/** Whether a placement selects the node: every listed condition must hold. */
export function selects(placement: PlacementSpec, node: NodeIdentity): boolean {
  if (placement.nodes && !placement.nodes.includes(node.name)) return false;
  for (const [key, value] of Object.entries(placement.labels ?? {})) {
    if (node.labels[key] !== value) return false;
  }
  return true;
}

/**
 * This node's share of the desired state. A service runs here when its own `placement`
 * selects the node; without one, when its app's `placement` does; without either, according
 * to the repository default (`everywhere`, the default for identical edge appliances, or
 * `nowhere`, so that every app names its nodes). Pure: `capstan plan --node B` computes B's
 * share on any machine.
 */
export function shareOf(desired: DesiredState, node: NodeIdentity): DesiredState {
  const everywhere = (desired.placementDefault ?? 'everywhere') === 'everywhere';
  let elsewhere = 0;
  const apps: App[] = [];
  for (const app of desired.apps) {
    const services = app.services.filter((service) => {
      const placement = service.placement ?? app.placement;
      const here = placement ? selects(placement, node) : everywhere;
      if (!here) elsewhere++;
      return here;
    });
    if (services.length === 0) continue;
    const mounted = new Set(services.flatMap((service) => service.mounts.flatMap((mount) => (mount.type === 'volume' ? [mount.volume] : []))));
    apps.push({ ...app, services, volumes: app.volumes.filter((volume) => mounted.has(volume.name) || volume.remove === true) });
  }
  return { ...desired, apps, placedElsewhere: (desired.placedElsewhere ?? 0) + elsewhere };
}

/** `role=edge,zone=a` → { role: 'edge', zone: 'a' } (CAPSTAN_NODE_LABELS). */
export function parseNodeLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of (text ?? '').split(',').map((part) => part.trim()).filter(Boolean)) {
    const equals = item.indexOf('=');
    if (equals <= 0) throw new Error(`node label '${item}' must be KEY=VALUE`);
    labels[item.slice(0, equals).trim()] = item.slice(equals + 1).trim();
  }
  return labels;
}
