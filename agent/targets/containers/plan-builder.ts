// The plan under construction: operations numbered as they are added, and which of them take
// our containers off a network or a volume, so the removal of that object can wait for them.
import type { Operation } from './types.js';

export type NewOperation = Operation extends infer O ? (O extends Operation ? Omit<O, 'id'> : never) : never;

export class PlanBuilder {
  readonly operations: Operation[] = [];
  /** Operations that take one of our containers off a network, by network: its removal waits for them. */
  readonly detached = new Map<string, number[]>();
  /** Operations that remove a container mounting a volume, by Docker volume name. */
  readonly unmounted = new Map<string, number[]>();

  add(operation: NewOperation): number {
    const id = this.operations.length + 1;
    this.operations.push({ ...operation, id } as Operation);
    return id;
  }

  record(map: Map<string, number[]>, key: string, id: number): void {
    map.set(key, [...(map.get(key) ?? []), id]);
  }
}
