// Runs the system tests: every compiled test/dist/src/system/*.system.js (build first), one file at
// a time, each as a plain node process (node:test runs its tests in-process, so a timeout's SIGTERM
// reaches the process that owns the network namespaces and it removes them). They build network
// namespaces, so they need Linux, root and iproute2: without them this fails in CI (CI=true) and
// skips elsewhere. Not part of `pnpm test`, which needs nothing but Node.
// `node scripts/test-system.mjs [substring...]` runs the files whose path contains a substring.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

const DIR = 'test/dist/src/system'
// The longest file, kill.system.js (7 peer processes, 3 removals and a join), takes 1.5 to 3
// minutes on 2 busy cores.
const FILE_TIMEOUT_MS = 300_000

function unavailable() {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  if (process.getuid() !== 0) return 'they create network namespaces, which needs root'
  if (spawnSync('ip', ['-V'], { stdio: 'ignore' }).status !== 0)
    return "the 'ip' command is missing (Debian: apt-get install iproute2)"
  return undefined
}

const why = unavailable()
if (why !== undefined) {
  if (process.env.CI === 'true') {
    console.error(`system tests: FAILED, cannot run in CI: ${why}`)
    process.exit(1)
  }
  console.error(`system tests: SKIPPED: ${why} (run as root: sudo node scripts/test-system.mjs)`)
  process.exit(0)
}

const all = existsSync(DIR)
  ? readdirSync(DIR)
      .filter((name) => name.endsWith('.system.js'))
      .sort()
      .map((name) => join(DIR, name))
  : []
const filter = process.argv.slice(2)
const files = filter.length ? all.filter((f) => filter.some((s) => f.includes(s))) : all
if (files.length === 0) {
  console.error('no system test files found (did the build run?)')
  process.exit(1)
}

let failed = 0
for (const file of files) {
  const started = Date.now()
  const result = spawnSync(process.execPath, [file], {
    stdio: 'inherit',
    timeout: FILE_TIMEOUT_MS,
    killSignal: 'SIGTERM',
  })
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  const outcome =
    result.error?.code === 'ETIMEDOUT'
      ? `timed out after ${FILE_TIMEOUT_MS / 1000} s`
      : result.status === 0
        ? 'passed'
        : `failed (${result.signal ?? `exit ${result.status}`})`
  console.error(`system tests: ${file} ${outcome} in ${seconds} s`)
  if (result.status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
