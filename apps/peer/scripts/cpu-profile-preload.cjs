// Preload (NODE_OPTIONS="--require apps/peer/scripts/cpu-profile-preload.cjs") for CPU-profiling the 'parsec-peer start'
// children of a 'parsec-peer demo'.
// - In the demo process: records the spawned children and sends them SIGUSR2 at the first POST /votes or /transactions.
// - In a peer: (unless CPUPROF_LAZY=1) profiles from load; SIGUSR2 discards that and restarts (so the
//   profile covers voting only); on the first SIGTERM/SIGINT (or exit) the profile is stopped
//   synchronously and written to $CPUPROF_DIR/<pid>.cpuprofile, with <pid>.meta.json: the process CPU
//   time over the window and the process CPU time spent inside the engine's Ed25519 verification
//   (sodium-native's crypto_sign_verify_detached; getrusage, exact).
'use strict'
const argv = process.argv.slice(2)
const fs = require('node:fs')
const path = require('node:path')
const dir = process.env.CPUPROF_DIR || '/tmp/cpuprof'
if (argv.includes('demo')) {
  require('./demo-first-vote.cjs').signalChildrenAtFirstVote((children) =>
    fs.writeFileSync(
      path.join(dir, 'trigger.txt'),
      `SIGUSR2 to ${children.length} children at ${new Date().toISOString()}\n`,
    ),
  )
} else if (argv.includes('start')) {
  const inspector = require('node:inspector')
  // The engine verifies Ed25519 on libsodium (parsec-core's sodium-native); wrap that function.
  const coreDir = path.join(__dirname, '..', '..', '..', 'packages', 'parsec-core')
  const sodium = require(require.resolve('sodium-native', { paths: [coreDir] }))
  let verifyUs = 0
  let verifyCount = 0
  const verify = sodium.crypto_sign_verify_detached
  if (process.env.CPUPROF_NOVERIFY !== '1')
    sodium.crypto_sign_verify_detached = function (...a) {
      const c = process.cpuUsage()
      try {
        return verify.apply(this, a)
      } finally {
        const d = process.cpuUsage(c)
        verifyUs += d.user + d.system
        verifyCount++
      }
    }
  const session = new inspector.Session()
  session.connect()
  let cpuAtStart = process.cpuUsage()
  let t0 = Date.now()
  let restarts = 0
  const start = () => {
    session.post('Profiler.enable')
    session.post('Profiler.setSamplingInterval', {
      interval: Number(process.env.CPUPROF_INTERVAL_US || 1000),
    })
    session.post('Profiler.start')
  }
  let running = process.env.CPUPROF_LAZY !== '1'
  if (running) start()
  let written = false
  const write = (why) => {
    if (written || !running) return
    written = true
    const cpu = process.cpuUsage(cpuAtStart)
    session.post('Profiler.stop', (err, res) => {
      if (err) return
      fs.mkdirSync(dir, { recursive: true })
      fs.writeFileSync(path.join(dir, `${process.pid}.cpuprofile`), JSON.stringify(res.profile))
      fs.writeFileSync(
        path.join(dir, `${process.pid}.meta.json`),
        JSON.stringify({
          pid: process.pid,
          why,
          restarts,
          wallMs: Date.now() - t0,
          cpuUserUs: cpu.user,
          cpuSystemUs: cpu.system,
          verifyCount,
          verifyCpuUs: verifyUs,
        }),
      )
    })
  }
  process.on('SIGUSR2', () => {
    if (written) return
    if (running) session.post('Profiler.stop', () => {})
    running = true
    restarts++
    cpuAtStart = process.cpuUsage()
    verifyUs = 0
    verifyCount = 0
    t0 = Date.now()
    start()
  })
  process.prependListener('SIGTERM', () => write('SIGTERM'))
  process.prependListener('SIGINT', () => write('SIGINT'))
  process.on('exit', () => write('exit'))
}
