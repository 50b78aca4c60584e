// The floor of the supervisor design of BENCHMARKS.md figure 4, measured rather than estimated:
// this process loads what a resident `capstan run` would keep (the logger, SQLite, node-cron,
// the control store, deferral and retry timers, notifications and metrics, and, unless
// `--no-poll`, the reference check, which is isomorphic-git), then runs three "cycles", each in a
// worker thread that loads the cycle's code (the composition root: git, the loader, the targets,
// dockerode), lists this engine's containers and parses a 200-service YAML file once, and exits.
// Prints VmRSS after loading, while each worker runs, after it ends, and idle, and what each
// worker cost in wall and CPU time (process-wide, so it includes the worker's module loading). The optimizing
// compiler stays on, as issue 24 asks.
//   node --expose-gc dist/bench/probe-split-footprint.js [--no-poll]
import { readFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
const gc = (globalThis as { gc?: () => void }).gc;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function cycleInWorker(): Promise<void> {
  const wiring = await import('../agent/cli/wiring.js');
  const { connectDocker } = await import('../agent/docker.js');
  const { parse } = await import('yaml');
  const containers = await connectDocker().listContainers({ all: true });
  let text = 'services:\n';
  for (let i = 0; i < 200; i++) text += `  s${i}:\n    image: local/busybox:1\n    command: [sh, -c, "sleep 86400"]\n    environment: {N: "${i}"}\n`;
  parse(text);
  parentPort?.postMessage({ containers: containers.length, exports: Object.keys(wiring).length });
}

async function supervisor(): Promise<void> {
  if (!gc) throw new Error('run with node --expose-gc');
  const resident = ['log.js', 'state/open.js', 'control/store.js', 'control/decide.js', 'cli/config.js', 'cli/hooks.js', 'deferral/wake.js', 'deferral/locks.js', 'state/cycle-lock.js', 'cycle-retry.js'];
  if (!process.argv.includes('--no-poll')) resident.push('source/poll.js');
  for (const module of resident) await import(`../agent/${module}`);
  await import('node-cron');
  gc();
  await pause(500);
  const report: Record<string, number> = { resident: rssMb() };
  const startMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((resolve, reject) => {
      const started = performance.now();
      const cpu = process.cpuUsage();
      const worker = new Worker(new URL(import.meta.url));
      worker.once('message', () => {
        const used = process.cpuUsage(cpu);
        startMs.push(performance.now() - started, (used.user + used.system) / 1000);
        report[`cycle ${i + 1} running`] = rssMb();
        void worker.terminate().then(() => resolve());
      });
      worker.once('error', reject);
    });
    gc();
    await pause(2000);
    report[`after cycle ${i + 1}`] = rssMb();
  }
  await pause(3000);
  report.idle = rssMb();
  for (const [what, mb] of Object.entries(report)) process.stdout.write(`${what.padEnd(18)} ${mb.toFixed(1)} MB\n`);
  for (let i = 0; i < startMs.length; i += 2) process.stdout.write(`worker ${i / 2 + 1}: ${startMs[i].toFixed(0)} ms to its answer, ${startMs[i + 1].toFixed(0)} ms of CPU\n`);
}

await (isMainThread ? supervisor() : cycleInWorker());
