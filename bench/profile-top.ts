// Summarises a V8 CPU profile (`node --cpu-prof`): the functions with the most self time, and
// the same time grouped by package, so a missed target points at the code to change.
//   node dist/bench/profile-top.js FILE.cpuprofile [COUNT] [SKIP_MS]
// SKIP_MS leaves out the start of the profile (module loading), e.g. to see `capstan run`'s
// in-sync cycles only.
import { readFileSync } from 'node:fs';
import { summariseProfile, type CpuProfile } from './lib/cpu-profile.js';

const [file, countText, skipText] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node dist/bench/profile-top.js FILE.cpuprofile [COUNT] [SKIP_MS]\n');
  process.exit(2);
}
const summary = summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(countText ?? 20), Number(skipText ?? 0));
process.stdout.write(`${summary}\n`);
