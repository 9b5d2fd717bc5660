// A/B of replay speed between another build of the repository (a worktree of main, built) and
// this one: both engines are loaded in one process and alternate replay by replay, so a busy
// machine slows both alike. Prints the medians per benchmark graph (detection off, as `pnpm bench`).
//   node scripts/bench-replay-ab.mjs OTHER_REPO_ROOT [--filter TEXT] [--rounds N]   (after `pnpm build` in both)
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { filter: { type: 'string', default: '' }, rounds: { type: 'string', default: '100' } },
})
if (positionals.length !== 1) {
  console.error('usage: node scripts/bench-replay-ab.mjs OTHER_REPO_ROOT [--filter TEXT] [--rounds N]')
  process.exit(2)
}
const here = resolve(fileURLToPath(import.meta.url), '../..')
const dot = (root) => import(join(resolve(root), 'packages/parsec-core/dist/src/dot/index.js'))
const [A, B] = await Promise.all([dot(positionals[0]), dot(here)])
const vectors = process.env.PARSEC_SHARED
  ? join(process.env.PARSEC_SHARED, 'vectors/parsec')
  : resolve(here, '../shared/vectors/parsec')
const graphs = []
for (const dir of readdirSync(vectors, { withFileTypes: true })) {
  if (!dir.isDirectory() || !(dir.name === 'benches' || dir.name.startsWith('bench_section_size_'))) continue
  for (const file of readdirSync(join(vectors, dir.name))) {
    const graph = `${dir.name}/${file}`
    if (file.endsWith('.dot') && graph.includes(values.filter)) graphs.push(graph)
  }
}
graphs.sort()
const median = (list) => [...list].sort((x, y) => x - y)[list.length >> 1]
const once = (engine, record) => {
  const start = performance.now()
  const parsec = engine.play(record, { maliceDetection: 'off' })
  while (parsec.poll() !== undefined) {}
  return performance.now() - start
}
let totalA = 0
let totalB = 0
let logs = 0
console.log('| graph | other | this | change |\n|---|---:|---:|---:|')
for (const graph of graphs) {
  const text = readFileSync(join(vectors, graph), 'utf8')
  const ra = A.parseRecording(text).record
  const rb = B.parseRecording(text).record
  const warm = performance.now()
  while (performance.now() - warm < 400) {
    once(A, ra)
    once(B, rb)
  }
  // About `rounds` * 20 ms of replays per graph and build, at most 400 each.
  const reps = Math.min(
    400,
    Math.max(5, Math.round((Number(values.rounds) * 20) / Math.max(0.1, once(A, ra)))),
  )
  const ta = []
  const tb = []
  for (let i = 0; i < reps; i++) {
    if (i % 2 === 0) ta.push(once(A, ra))
    tb.push(once(B, rb))
    if (i % 2 === 1) ta.push(once(A, ra))
  }
  const a = median(ta)
  const b = median(tb)
  totalA += a
  totalB += b
  logs += Math.log(b / a)
  console.log(
    `| ${graph.replace(/\.dot$/, '')} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${((b / a - 1) * 100).toFixed(1)}% |`,
  )
}
console.log(
  `\ntotal ${totalA.toFixed(1)} -> ${totalB.toFixed(1)} ms (${((totalB / totalA - 1) * 100).toFixed(1)}%), ` +
    `geometric mean of the ratios ${((Math.exp(logs / graphs.length) - 1) * 100).toFixed(1)}%`,
)
