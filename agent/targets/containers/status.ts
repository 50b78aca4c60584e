import type Docker from 'dockerode';
import type { StatusReplica } from '../status.js';
import { observe } from './observe.js';

// `capstan status` on one engine: this node's containers, as observe lists them.

export async function containerStatusRows(docker: Docker, node: string): Promise<{ containers: StatusReplica[] }> {
  const observed = await observe(docker, node);
  return { containers: observed.containers };
}
