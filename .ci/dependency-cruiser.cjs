// The import graph's rules, checked by `npm test` (test/run.sh) before the unit tests:
//   npx depcruise --config .ci/dependency-cruiser.cjs agent manifests-schema/gen
// Severity `error` fails the run; `warn` is reported only.
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles in the agent: a cycle is broken by moving what both sides share to where it belongs.',
      severity: 'error',
      from: { path: '^agent/' },
      to: { circular: true },
    },
    {
      name: 'target-execute-not-load',
      comment: "A target's executor acts on the plan alone: the plan carries everything it needs from the loaded state.",
      severity: 'error',
      from: { path: '^agent/targets/[^/]+/execute' },
      to: { path: '^agent/load' },
    },
    {
      name: 'policy-not-load',
      comment: 'The loader checks the host policy (load → policy), never the other way round.',
      severity: 'error',
      from: { path: '^agent/policy' },
      to: { path: '^agent/load' },
    },
    {
      name: 'generators-are-build-time',
      comment: 'manifests-schema/gen/ runs at build time (npm run schema); the agent never imports it.',
      severity: 'error',
      from: { path: '^agent/' },
      to: { path: '^manifests-schema/gen/' },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports count: a cycle through types is still a cycle to read and to move.
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
