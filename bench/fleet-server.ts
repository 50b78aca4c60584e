// The git server of the fleet simulation (bench/figures/fleet.ts), in its own process so its CPU
// (and that of its git-http-backend children) is measured apart from the pollers'.
//   node dist/bench/fleet-server.js   (IPC: sends {url}, answers 'stats' with {requests, cpuMs})
import { readFileSync } from 'node:fs';
import { startGitServer } from '../test/helpers/git-server.js';

const token = process.env.BENCH_FLEET_TOKEN ?? '';
const server = await startGitServer({ token });
const repo = await server.createRepo('fleet');
await repo.write({ 'app.yaml': 'app: fleet\nservices:\n  web:\n    image: local/busybox:1\n' });
await repo.commit('fleet');
await repo.push();
const pushes = server.log.length;

/** This process's CPU and that of its children it has waited for (every finished CGI run), ms. */
function cpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  // utime, stime, cutime, cstime are fields 14–17 of stat, 12–15 after the command name.
  const ticks = [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index]), 0);
  return ticks * 10;
}

process.on('message', (message) => {
  if (message === 'stats') {
    const log = server.log.slice(pushes);
    process.send?.({ requests: log.length, errors: log.filter((record) => record.status !== 200).length, cpuMs: cpuMs() });
  } else if (message === 'close') {
    void server.close().then(() => process.exit(0));
  }
});
process.send?.({ url: repo.url });
