// Every target is a folder under agent/targets/ with the same stage files, and registered once
// (agent/targets/index.ts). A target missing a stage, or one stage file only one target has,
// fails here: add it to every target or to STAGE_FILES (and docs/design.md) on purpose.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { TARGET_NAMES } from '../../agent/targets/index.js';
import { repoRoot } from '../helpers/paths.js';

/** The stages of a target (docs/design.md, "The Target seam"). */
const STAGE_FILES = ['execute.ts', 'index.ts', 'observe.ts', 'plan.ts', 'print.ts', 'status.ts', 'types.ts'];
/** Stage names: a target's helpers are named `<stage>-<what>.ts` (execute-spec.ts) or for what they hold. */
const STAGES = STAGE_FILES.map((file) => file.replace(/\.ts$/, ''));

const targetsDir = join(repoRoot(), 'agent', 'targets');
const folders = readdirSync(targetsDir, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
const stageFilesOf = (folder: string) =>
  readdirSync(join(targetsDir, folder)).filter((file) => STAGES.includes(file.replace(/\.ts$/, ''))).sort();

it('gives every target folder the same stage files', () => {
  assert.ok(folders.length >= 2, `target folders under ${targetsDir}: ${folders.join(', ')}`);
  for (const folder of folders) assert.deepEqual(stageFilesOf(folder), STAGE_FILES, `agent/targets/${folder}/ stage files`);
});

it('registers every target folder once, by its folder name', () => {
  assert.deepEqual([...TARGET_NAMES].sort(), folders);
});
