// Runs every compiled *.test.js under packages/, apps/ and test/ with node's test runner.
// (Node 20's --test does not expand glob patterns itself.)
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const roots = ['packages', 'apps', 'test']
const files = []
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path)
    else if (name.endsWith('.test.js') && path.includes(`${'dist'}`)) files.push(path)
  }
}
for (const root of roots) walk(root)
files.sort()
const filter = process.argv.slice(2)
const selected = filter.length ? files.filter((f) => filter.some((s) => f.includes(s))) : files
if (selected.length === 0) {
  console.error('no test files found (did the build run?)')
  process.exit(1)
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...selected], {
  stdio: 'inherit',
})
process.exit(result.status ?? 1)
