// isomorphic-git, required rather than imported. Imported as ESM, Node first lexes its 575 KB
// CommonJS bundle for named exports: ~25 ms more of every process start (`capstan once`, `plan`;
// BENCHMARKS.md figure 2) than requiring it. Its types are still imported with `import type`.
import { createRequire } from 'node:module';

const git = createRequire(import.meta.url)('isomorphic-git') as typeof import('isomorphic-git').default;

export default git;
