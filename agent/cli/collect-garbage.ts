// A full garbage collection after each cycle of `capstan run`, which then idles until the next
// one (BENCHMARKS.md, figure 4). With a young generation of 2 × 1 MB (run-v8-flags.ts) a cycle's
// short-lived objects are promoted to the old generation, which V8 lets grow to its next limit
// before it collects it: idle RSS then depends on where between two full collections the agent
// happens to be (83 to 96 MB idle in runs of the same build after converging 100 services).
// Collecting once the cycle is over brings the old generation back to what is live (~15 MB) and
// the idle figure to the bottom of that spread, for ~6 ms of main-thread time per cycle.
//
// Node exposes no `gc()` without `--expose-gc` on its command line (the bin entry cannot carry
// one); set at run time, the flag gives `gc` to contexts created afterwards, and the function
// collects the whole isolate's heap.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | null | undefined;

/** Runs a full, synchronous collection; does nothing if this Node does not give `gc`. */
export function collectGarbage(): void {
  if (collect === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const gc: unknown = runInNewContext('typeof gc === "function" ? gc : null');
      collect = typeof gc === 'function' ? (gc as () => void) : null;
    } catch {
      collect = null;
    }
  }
  collect?.();
}
