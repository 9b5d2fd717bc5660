// Runs the browser tests (test/dist/src/browser/*.browser.js, build first): the live view driven in
// a headless Chromium (CHROMIUM_PATH, default /usr/bin/chromium; Debian: apt-get install chromium).
// Without the browser this fails in CI (CI=true) and skips elsewhere, saying so. Not part of
// `pnpm test`, which needs nothing but Node.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

const DIR = 'test/dist/src/browser'
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
if (!existsSync(chromium)) {
  const why = `no browser at ${chromium} (Debian: apt-get install chromium; or set CHROMIUM_PATH)`
  if (process.env.CI === 'true') {
    console.error(`browser tests: FAILED, cannot run in CI: ${why}`)
    process.exit(1)
  }
  console.error(`browser tests: SKIPPED: ${why}`)
  process.exit(0)
}
const files = existsSync(DIR)
  ? readdirSync(DIR)
      .filter((name) => name.endsWith('.browser.js'))
      .sort()
      .map((name) => join(DIR, name))
  : []
if (files.length === 0) {
  console.error(`browser tests: none found in ${DIR} (run pnpm build first)`)
  process.exit(1)
}
const run = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, CHROMIUM_PATH: chromium },
})
process.exit(run.status ?? 1)
