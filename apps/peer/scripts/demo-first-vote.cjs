// For the profiling preloads: in a 'parsec-peer demo' process, sends SIGUSR2 to every peer it
// spawned ('parsec-peer start' children; not the DHT node of --join, which has no handler) at the
// demo's first POST /votes or /transactions (so the peers measure the voting window only), then
// calls `onSignalled(peers)`.
'use strict'
const cp = require('node:child_process')

exports.signalChildrenAtFirstVote = function signalChildrenAtFirstVote(onSignalled = () => {}) {
  const children = []
  const spawn = cp.spawn
  cp.spawn = function (...args) {
    const child = spawn.apply(this, args)
    if (Array.isArray(args[1]) && args[1].includes('start')) children.push(child)
    return child
  }
  const fetch = globalThis.fetch
  let sent = false
  globalThis.fetch = function (url, init) {
    const target = String(url)
    if (!sent && init?.method === 'POST' && (target.endsWith('/votes') || target.endsWith('/transactions'))) {
      sent = true
      for (const child of children) if (child.exitCode === null) child.kill('SIGUSR2')
      onSignalled(children)
    }
    return fetch.call(this, url, init)
  }
}
