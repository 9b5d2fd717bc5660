// The long tests, two files at a time: every compiled *.long.js under test/ (in-process sections that run for minutes:
// epochs over libp2p with restarts, a member away for many epochs). Not part of `pnpm test` (its
// 10-minute budget); CI runs them (.ci/run). `node scripts/test-long.mjs [substring...]` runs the
// files whose path contains a substring.
import { spawnSync } from 'node:child_process'
import { testFiles } from './test-files.mjs'

const files = testFiles('.long.js')
const filter = process.argv.slice(2)
const selected = filter.length ? files.filter((f) => filter.some((s) => f.includes(s))) : files
if (selected.length === 0) {
  console.error('no long test files found (did the build run?)')
  process.exit(1)
}
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
