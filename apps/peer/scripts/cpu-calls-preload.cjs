// Preload (NODE_OPTIONS="--require apps/peer/scripts/cpu-calls-preload.cjs") that measures, exactly,
// the CPU time of the engine's and the service's calls in the 'parsec-peer start' children of a
// 'parsec-peer demo': getrusage (process.cpuUsage) around every call of the methods listed below,
// inclusive of what they call (an async method counts up to its first await). Sampled profiles
// (cpu-profile-preload.cjs) are biased on an oversubscribed machine; these figures are not.
// - In the demo process: sends the children SIGUSR2 at the first POST /votes or /transactions.
// - In a peer: SIGUSR2 zeroes the counters; every 500 ms and at SIGTERM it writes
//   $CPUCALLS_DIR/<pid>.json: {"totalUs": process CPU since the reset, "calls": {name: {us, n}}}.
// - CPUCALLS_MODULES=a.js,b.js (paths under packages/) wraps every method of those modules' classes too.
// Summarise with cpu-calls-summary.mjs.
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const argv = process.argv.slice(2)
const dir = process.env.CPUCALLS_DIR || '/tmp/cpucalls'
const packages = path.join(__dirname, '..', '..', '..', 'packages')

if (argv.includes('demo')) {
  require('./demo-first-vote.cjs').signalChildrenAtFirstVote()
} else if (argv.includes('start')) {
  const calls = {}
  const count = (name, since) => {
    const d = process.cpuUsage(since)
    const entry = (calls[name] ??= { us: 0, n: 0 })
    entry.us += d.user + d.system
    entry.n++
  }
  const wrap = (owner, method, name) => {
    const original = owner[method]
    if (typeof original !== 'function') return
    owner[method] = function (...a) {
      const since = process.cpuUsage()
      try {
        return original.apply(this, a)
      } finally {
        count(name, since)
      }
    }
  }
  // Methods of the engine (private ones too: they are on the prototype in JS).
  const engineMethods = [
    'handleRequest',
    'handleResponse',
    'createGossip',
    'voteFor',
    'poll',
    'unpackMessage',
    'unpack',
    'heldEvent',
    'addEvent',
    'processEvents',
    'processEvent',
    'onDecision',
    'createOwnEvent',
    'eventsToSend',
  ]
  const modules = [
    ['parsec-core/dist/src/parsec.js', engineMethods],
    ['p2p-section/dist/src/section/inbound.js', null],
    ['p2p-section/dist/src/section/outbound.js', null],
    ['p2p-section/dist/src/section/journal.js', null],
    ['p2p-section/dist/src/section/membership-host.js', null],
    ['p2p-section/dist/src/storage.js', ['append']],
    // More modules (paths under packages/, comma-separated): every method of their exported classes.
    ...(process.env.CPUCALLS_MODULES ?? '')
      .split(',')
      .filter((file) => file !== '')
      .map((file) => [file, null]),
  ]
  for (const [file, methods] of modules) {
    import(path.join(packages, file))
      .then((m) => {
        for (const [exported, value] of Object.entries(m)) {
          if (typeof value !== 'function' || value.prototype === undefined) continue
          for (const method of methods ?? Object.getOwnPropertyNames(value.prototype)) {
            if (method === 'constructor') continue
            const desc = Object.getOwnPropertyDescriptor(value.prototype, method)
            if (desc !== undefined && typeof desc.value === 'function')
              wrap(value.prototype, method, `${exported}.${method}`)
          }
        }
      })
      .catch((error) => console.error(`cpu-calls-preload: cannot wrap ${file}: ${error}`))
  }
  const sodium = require(require.resolve('sodium-native', { paths: [path.join(packages, 'parsec-core')] }))
  wrap(sodium, 'crypto_sign_verify_detached', 'libsodium verify')
  wrap(sodium, 'crypto_sign_detached', 'libsodium sign')
  let since = process.cpuUsage()
  process.on('SIGUSR2', () => {
    for (const name of Object.keys(calls)) delete calls[name]
    since = process.cpuUsage()
  })
  fs.mkdirSync(dir, { recursive: true })
  const write = () => {
    const d = process.cpuUsage(since)
    fs.writeFileSync(
      path.join(dir, `${process.pid}.json`),
      JSON.stringify({ totalUs: d.user + d.system, calls }),
    )
  }
  setInterval(write, 500).unref()
  process.on('SIGTERM', write)
  process.on('exit', write)
}
