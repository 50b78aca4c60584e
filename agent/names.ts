// Docker object names, in one place. They follow Compose (`<project>-<service>-<n>`,
// `<project>_default`) so people coming from Compose recognise them in `docker ps`.

export function containerName(app: string, service: string, replica: number): string {
  return `${app}-${service}-${replica}`;
}

/**
 * A replacement is created under this name, then the old container is stopped and removed,
 * then the new one is renamed to `containerName(...)`. Observation recognises it by its
 * labels, not by this name, so a crash between any two steps is finished by the next plan.
 */
export function nextContainerName(app: string, service: string, replica: number): string {
  return `${containerName(app, service, replica)}--next`;
}

export function appNetworkName(app: string): string {
  return `${app}_default`;
}
