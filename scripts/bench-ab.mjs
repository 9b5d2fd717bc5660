// A/B of `pnpm bench` in one run: two builds of parsec-core (e.g. two worktrees, each after
// `pnpm build`) replay each benchmark graph alternately in one process (A, B, B, A, ...), so the
// machine's load falls on both alike; prints the median replay time of each per graph.
// Usage: node scripts/bench-ab.mjs BASE_DIR CHANGED_DIR [runs=41] [filter]
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const [baseDir, changedDir, runsArg, filter] = process.argv.slice(2)
if (baseDir === undefined || changedDir === undefined) {
  console.error('usage: node scripts/bench-ab.mjs BASE_DIR CHANGED_DIR [runs=41] [filter]')
  process.exit(2)
}
const load = (dir) => import(pathToFileURL(resolve(dir, 'packages/parsec-core/dist/src/dot/index.js')).href)
const sides = [
  { name: 'base', module: await load(baseDir) },
  { name: 'changed', module: await load(changedDir) },
]
const runs = Number(runsArg ?? 41)
const vectors = resolve(changedDir, '../shared/vectors/parsec')
const graphs = []
for (const dir of readdirSync(vectors, { withFileTypes: true })) {
  if (!dir.isDirectory() || !(dir.name === 'benches' || dir.name.startsWith('bench_section_size_'))) continue
  for (const file of readdirSync(join(vectors, dir.name)))
    if (file.endsWith('.dot') && (filter === undefined || `${dir.name}/${file}`.includes(filter)))
      graphs.push(`${dir.name}/${file}`)
}
graphs.sort()
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
console.log('| graph | events | base median (ms) | changed median (ms) | change |')
console.log('|---|---:|---:|---:|---:|')
for (const graph of graphs) {
  const text = readFileSync(join(vectors, graph), 'utf8')
  // The same scope as `parsec-peer bench`: the replay and polling every block, after parsing.
  const players = sides.map(({ name, module }) => {
    const { record } = module.parseRecording(text)
    return {
      name,
      once() {
        const start = performance.now()
        const parsec = module.play(record)
        while (parsec.poll() !== undefined) {}
        return [performance.now() - start, parsec.graphSize]
      },
    }
  })
  const warmUp = performance.now()
  for (let i = 0; i < 2 || performance.now() - warmUp < 600; i++) for (const player of players) player.once()
  const times = { base: [], changed: [] }
  let events = 0
  for (let i = 0; i < runs; i++) {
    for (const player of i % 2 ? [...players].reverse() : players) {
      const [ms, size] = player.once()
      times[player.name].push(ms)
      events = size
    }
  }
  const [base, changed] = [median(times.base), median(times.changed)]
  const change = `${changed >= base ? '+' : ''}${((100 * (changed - base)) / base).toFixed(1)}%`
  console.log(
    `| ${graph.replace(/\.dot$/, '')} | ${events} | ${base.toFixed(2)} | ${changed.toFixed(2)} | ${change} |`,
  )
}
