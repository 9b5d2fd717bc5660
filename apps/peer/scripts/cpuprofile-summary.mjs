#!/usr/bin/env node
// Aggregates V8 .cpuprofile files (e.g. one per peer process of a live section) by function, by
// package and by category: self time and the share of non-idle CPU, plus inclusive time per
// function and the time spent under each of our own packages' frames (inclusive of the libraries
// they call).
//
//   node apps/peer/scripts/cpuprofile-summary.mjs DIR_OR_FILES... [--top N] [--json]
//        [--category TEXT] [--under TEXT]
// --category TEXT: the top functions by self time are only those of categories containing TEXT;
// --under TEXT: only samples with a frame whose "function file:line" contains TEXT on the stack count
// (shares stay of all non-idle time).
//
// A sample's time is the delta to the next sample (as DevTools counts it). A native frame (no url)
// counts in the category of its nearest caller that has one (e.g. OpenSSL's verify under
// node:crypto's verify, a socket write under node:net).

import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

const args = process.argv.slice(2)
let top = 20
let asJson = false
let onlyCategory
let under
const inputs = []
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i])
  else if (args[i] === '--json') asJson = true
  else if (args[i] === '--category') onlyCategory = args[++i]
  else if (args[i] === '--under') under = args[++i]
  else inputs.push(args[i])
}
if (inputs.length === 0) {
  console.error('usage: cpuprofile-summary.mjs DIR_OR_FILES... [--top N] [--json]')
  process.exit(2)
}
const files = inputs.flatMap((p) =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(p, f))
    : [p],
)

/** The npm package of a node_modules url (the last node_modules segment), else undefined. */
function packageOf(url) {
  const at = url.lastIndexOf('/node_modules/')
  if (at < 0) return undefined
  const rest = url.slice(at + '/node_modules/'.length).split('/')
  return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
}

const OUR = [
  ['packages/parsec-core/', 'ours: parsec-core (engine)'],
  ['packages/membership/', 'ours: membership'],
  ['packages/p2p-section/', 'ours: p2p-section'],
  ['packages/simulation/', 'ours: simulation'],
  ['apps/peer/', 'ours: apps/peer'],
]

function categoryOfPackage(pkg) {
  if (pkg === '@libp2p/yamux') return 'libp2p: yamux'
  if (pkg === '@libp2p/noise' || pkg === '@chainsafe/as-chacha20poly1305' || pkg === '@noble/ciphers')
    return 'libp2p: noise (+chacha20poly1305)'
  if (pkg === '@libp2p/gossipsub') return 'libp2p: gossipsub'
  if (pkg === '@libp2p/kad-dht') return 'libp2p: kad-dht'
  if (
    pkg === '@libp2p/logger' ||
    pkg === 'weald' ||
    pkg === 'pino' ||
    pkg === 'sonic-boom' ||
    pkg === 'debug'
  )
    return 'logging'
  if (
    pkg === 'prom-client' ||
    pkg === '@libp2p/prometheus-metrics' ||
    pkg === 'tdigest' ||
    pkg === 'bintrees'
  )
    return 'metrics'
  if (
    pkg === 'libp2p' ||
    pkg.startsWith('@libp2p/') ||
    pkg.startsWith('@multiformats/') ||
    pkg === 'multiformats'
  )
    return 'libp2p: other'
  if (
    pkg.startsWith('it-') ||
    pkg.startsWith('p-') ||
    /^(uint8arraylist|main-event|race-signal|race-event|any-signal|abort-error|progress-events|denque)$/.test(
      pkg,
    )
  )
    return 'streams/async/abort utils (it-*, uint8arraylist, p-*, *-signal)'
  if (
    pkg.startsWith('protobufjs') ||
    pkg.startsWith('@protobufjs/') ||
    pkg.startsWith('protons') ||
    pkg === 'uint8-varint'
  )
    return 'protobuf codec'
  if (pkg === 'uint8arrays') return 'uint8arrays'
  if (pkg === '@noble/hashes' || pkg === '@chainsafe/as-sha256') return 'hashing (@noble/hashes, as-sha256)'
  if (pkg === '@noble/curves') return 'signatures (@noble/curves)'
  if (pkg === 'sodium-native') return 'signatures (sodium-native Ed25519 sign+verify)'
  if (/level|datastore|^interface-store$|^mortice$/.test(pkg))
    return 'storage (level/LevelDB, datastore, mortice)'
  return `other: ${pkg}`
}

function classify(frame) {
  const { url, functionName } = frame
  if (url === '') {
    if (functionName === '(idle)') return { category: '(idle)', pkg: '(idle)' }
    if (functionName === '(garbage collector)') return { category: '(garbage collector)', pkg: '(gc)' }
    if (functionName === '(program)') return { category: '(program)', pkg: '(program)' }
    if (functionName === '(root)') return { category: '(root)', pkg: '(root)' }
    return { category: 'native/builtins (no url)', pkg: '(native)' }
  }
  if (url.startsWith('wasm://')) return { category: 'wasm (no package known)', pkg: 'wasm' }
  if (url.startsWith('node:')) {
    const pkg = url.replace(/^node:(internal\/)?/, 'node:')
    if (/^node:crypto\/(sig|keys)/.test(pkg))
      return { category: 'signatures (node:crypto Ed25519 sign+verify)', pkg }
    if (/^node:crypto\/hash/.test(pkg)) return { category: 'hashing (node:crypto)', pkg }
    if (/^node:crypto\/cipher/.test(pkg)) return { category: 'libp2p: noise (+chacha20poly1305)', pkg }
    if (/^node:(net|stream|streams\/|stream_base|dgram|tcp|buffer)/.test(pkg))
      return { category: 'node core: net/streams/buffers', pkg }
    if (
      /^node:(event_target|events|abort_controller|timers|process\/task_queues|util|errors|validators)/.test(
        pkg,
      )
    )
      return { category: 'node core: events/abort/timers/ticks', pkg }
    return { category: 'node core: other', pkg }
  }
  const pkg = packageOf(url)
  if (pkg !== undefined) return { category: categoryOfPackage(pkg), pkg }
  for (const [part, category] of OUR) {
    if (url.includes(part)) {
      const generated = /\/pb\//.test(url)
      return {
        category: generated ? 'protobuf codec' : category,
        pkg: generated ? `${category} (generated pb)` : category,
      }
    }
  }
  return { category: 'other (file)', pkg: url }
}

const bySelfFn = new Map()
const byInclFn = new Map()
const byPkg = new Map()
const byCat = new Map()
const underOurs = new Map() // by the innermost our-code frame on the sample's stack
let total = 0
let idle = 0
const perFile = []
const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v)

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const info = new Map()
  // A native frame (no url: builtins, C++ bindings) counts in its nearest JS caller's category.
  const classifyNode = (n) => {
    const c = classify(n.callFrame)
    if (c.category !== 'native/builtins (no url)') return c
    for (let at = parent.get(n.id); at !== undefined; at = parent.get(at)) {
      const p = nodes.get(at).callFrame
      if (p.url !== '') {
        const pc = classify(p)
        return { category: pc.category, pkg: `${pc.pkg} (native)` }
      }
    }
    return c
  }
  for (const n of profile.nodes) {
    const f = n.callFrame
    const c = classifyNode(n)
    const file = f.url
      .replace(/^.*\/(node_modules|packages|apps)\//, '$1/')
      .replace('node_modules/.pnpm/', '')
    info.set(n.id, { ...c, key: `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}` })
  }
  // Stacks memoised per node: unique function keys, and the innermost our-code category.
  const stackKeys = new Map()
  const innerOurs = new Map()
  const stackOf = (id) => {
    if (stackKeys.has(id)) return stackKeys.get(id)
    const keys = new Set()
    let ours
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const i = info.get(at)
      keys.add(i.key)
      if (ours === undefined && i.category.startsWith('ours:')) ours = i.category
    }
    stackKeys.set(id, keys)
    innerOurs.set(id, ours ?? '(no our-code frame)')
    return keys
  }
  const { samples, timeDeltas } = profile
  let fileTotal = 0
  let fileIdle = 0
  for (let s = 0; s < samples.length; s++) {
    const dt = (s + 1 < timeDeltas.length ? timeDeltas[s + 1] : 0) / 1000 // ms
    if (dt <= 0) continue
    const id = samples[s]
    const i = info.get(id)
    fileTotal += dt
    if (i.category === '(idle)') {
      fileIdle += dt
      continue
    }
    if (under !== undefined && ![...stackOf(id)].some((k) => k.includes(under))) continue
    if (onlyCategory === undefined || i.category.includes(onlyCategory))
      add(bySelfFn, `${i.key}\t${i.category}`, dt)
    add(byPkg, i.pkg, dt)
    add(byCat, i.category, dt)
    for (const k of stackOf(id)) add(byInclFn, k, dt)
    add(underOurs, innerOurs.get(id), dt)
  }
  total += fileTotal
  idle += fileIdle
  perFile.push({
    file,
    wallMs: profile.endTime / 1000 - profile.startTime / 1000,
    sampledMs: fileTotal,
    busyMs: fileTotal - fileIdle,
  })
}

const busy = total - idle
const sorted = (m, n = Number.POSITIVE_INFINITY) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
const pct = (v) => ((100 * v) / busy).toFixed(1)
if (asJson) {
  console.log(
    JSON.stringify({
      files: files.length,
      busyMs: busy,
      idleMs: idle,
      categories: Object.fromEntries(sorted(byCat)),
      packages: Object.fromEntries(sorted(byPkg, 100)),
      selfTop: sorted(bySelfFn, top).map(([k, v]) => ({ fn: k, ms: v })),
      inclusiveTop: sorted(byInclFn, top).map(([k, v]) => ({ fn: k, ms: v })),
      underOurs: Object.fromEntries(sorted(underOurs)),
      perFile,
    }),
  )
} else {
  if (under !== undefined)
    console.log(`only samples under a frame matching '${under}' (shares of all non-idle)`)
  console.log(
    `${files.length} profiles; busy (non-idle) ${(busy / 1000).toFixed(2)} s, idle ${(idle / 1000).toFixed(2)} s`,
  )
  console.log('\nby category (self time, % of non-idle):')
  for (const [k, v] of sorted(byCat))
    console.log(`  ${pct(v).padStart(5)}%  ${(v / 1000).toFixed(2).padStart(7)} s  ${k}`)
  console.log('\nby package (self, top 30):')
  for (const [k, v] of sorted(byPkg, 30)) console.log(`  ${pct(v).padStart(5)}%  ${k}`)
  console.log(`\ntop ${top} functions by self time:`)
  for (const [k, v] of sorted(bySelfFn, top))
    console.log(`  ${pct(v).padStart(5)}%  ${k.replace('\t', '   [')}]`)
  console.log(`\ntop ${top} functions by inclusive time:`)
  for (const [k, v] of sorted(byInclFn, top)) console.log(`  ${pct(v).padStart(5)}%  ${k}`)
  console.log('\nby innermost our-code frame on the stack (inclusive of the libraries it calls):')
  for (const [k, v] of sorted(underOurs)) console.log(`  ${pct(v).padStart(5)}%  ${k}`)
}
