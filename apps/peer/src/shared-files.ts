/** Finds the project's shared directory (`../shared` beside the repository) from this file. */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export function sharedPath(...parts: string[]): string | undefined {
  if (process.env.PARSEC_SHARED) return resolve(process.env.PARSEC_SHARED, ...parts)
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, '..', 'shared', ...parts)
    if (existsSync(candidate)) return candidate
    dir = dirname(dir)
  }
  return undefined
}
