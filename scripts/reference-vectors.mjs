// Where the reference gossip graphs are: PARSEC_VECTORS, or ../shared/vectors/parsec beside the
// repository. They are the reference project's files and are never committed here.
import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

export function referenceVectors() {
  const path = process.env.PARSEC_VECTORS
    ? resolve(process.env.PARSEC_VECTORS)
    : resolve(root, '..', 'shared', 'vectors', 'parsec')
  return { path, found: existsSync(path), fromEnv: Boolean(process.env.PARSEC_VECTORS) }
}
