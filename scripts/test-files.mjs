// The compiled test files under packages/, apps/ and test/ whose names end with `suffix`
// (Node 20's --test does not expand glob patterns itself).
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

export function testFiles(suffix) {
  const files = []
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules') continue
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (name.endsWith(suffix) && path.split('/').includes('dist')) files.push(path)
    }
  }
  for (const root of ['packages', 'apps', 'test']) walk(root)
  return files.sort()
}
