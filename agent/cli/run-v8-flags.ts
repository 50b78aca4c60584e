// V8 settings for `capstan run`, which idles for the host's whole life: they trade CPU on rare
// heavy work for resident memory (BENCHMARKS.md, figure 4). Idle RSS after converging 100
// services, two runs each: no flag 89 and 90 MB; `--max-opt=1` alone 107 and 108 MB (the young
// generation then grows to its maximum); both flags 77 and 76 MB.
//
// - `--semi-space-growth-factor=1`: V8 doubles the young generation whenever a scavenge finds it
//   busy, up to 2 × 16 MB, and never gives it back; this keeps it at its first size (2 × 1 MB).
// - `--max-opt=1`: no optimizing compiler (TurboFan, and Maglev where Node enables it); hot code
//   still gets baseline code (Sparkplug). The compiler's memory stays resident once it has run
//   (~12 MB). An in-sync cycle takes the same CPU (~30 ms); the first checkout of a 2,000-file
//   repository takes 6.7 s instead of 2.1 s (pako inflating every blob), later ones the same.
//
// They are set at run time (the bin entry cannot carry node flags), before the command's modules
// load. Both are read by V8 at each decision; `--max-semi-space-size` is fixed once the heap is
// set up, and some flags cannot change once V8 runs at all (`--single-threaded-gc` aborts the
// process), so add none here without running the agent with it.
export const RUN_V8_FLAGS = ['--semi-space-growth-factor=1', '--max-opt=1'] as const;
