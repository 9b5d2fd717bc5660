// The README's test command: every compiled *.test.js under packages/, apps/ and test/. It needs
// nothing but Node and the repository; the conformance suite over the reference graphs is
// `pnpm test:reference` (scripts/test-reference.mjs), and this says so rather than pass silently.
import { spawnSync } from 'node:child_process'
import { referenceVectors } from './reference-vectors.mjs'
import { testFiles } from './test-files.mjs'

const files = testFiles('.test.js')
const filter = process.argv.slice(2)
const selected = filter.length ? files.filter((f) => filter.some((s) => f.includes(s))) : files
if (selected.length === 0) {
  console.error('no test files found (did the build run?)')
  process.exit(1)
}
const vectors = referenceVectors()
console.log(
  vectors.found
    ? `reference conformance suite: not part of this command; \`pnpm test:reference\` runs it (graphs at ${vectors.path})`
    : `reference conformance suite: did not run: no reference graphs at ${vectors.path} (set PARSEC_VECTORS; \`pnpm test:reference\` runs it)`,
)
// On a terminal node's own reporter; in CI and logs one line per file (compact-reporter.mjs).
const reporter = process.stdout.isTTY
  ? []
  : [
      `--test-reporter=${new URL('./compact-reporter.mjs', import.meta.url).pathname}`,
      '--test-reporter-destination=stdout',
    ]
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...reporter, ...selected], {
  stdio: 'inherit',
})
process.exit(result.status ?? 1)
