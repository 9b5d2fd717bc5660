/** Locates the shared reference vectors (`../shared/vectors/parsec` beside the repository). */
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export function vectorsRoot(): string {
  if (process.env.PARSEC_VECTORS) return resolve(process.env.PARSEC_VECTORS)
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, '..', 'shared', 'vectors', 'parsec')
    if (existsSync(candidate)) return candidate
    dir = dirname(dir)
  }
  throw new Error('shared vectors not found: set PARSEC_VECTORS to ../shared/vectors/parsec')
}

/** Every `.dot` graph under the vectors root, as paths relative to it, sorted. */
export function vectorGraphs(root = vectorsRoot()): string[] {
  const out: string[] = []
  for (const dir of readdirSync(root, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue
    for (const file of readdirSync(join(root, dir.name)))
      if (file.endsWith('.dot')) out.push(`${dir.name}/${file}`)
  }
  return out.sort()
}
