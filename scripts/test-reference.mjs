// `pnpm test:reference`: the conformance suite over the reference project's gossip graphs (every
// compiled *.reference.js): each graph replays to exactly its recorded blocks. The graphs are read
// from PARSEC_VECTORS or ../shared/vectors/parsec; without them this fails (exit 1), never a silent pass.
import { spawnSync } from 'node:child_process'
import { referenceVectors } from './reference-vectors.mjs'
import { testFiles } from './test-files.mjs'

const vectors = referenceVectors()
if (!vectors.found) {
  console.error(`reference graphs not found at ${vectors.path}: set PARSEC_VECTORS to their folder`)
  process.exit(1)
}
const files = testFiles('.reference.js')
if (files.length === 0) {
  console.error('no reference test files found (did the build run?)')
  process.exit(1)
}
const result = spawnSync(process.execPath, ['--test', ...files], {
  stdio: 'inherit',
  env: { ...process.env, PARSEC_VECTORS: vectors.path },
})
process.exit(result.status ?? 1)
