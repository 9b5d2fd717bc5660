/**
 * `parsec-peer dht`: runs a libp2p node that belongs to no section and only serves the DHT shared
 * by every section (TCP, noise, yamux, identify, ping, a kad-dht server on
 * `/parsec-section/kad/1.0.0`): a bootstrap node for anyone. Members provide their section's CID
 * through it; a joiner that knows only a section id and this node's address finds the members.
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import { constants, createDhtNode, type DhtNode } from '@parsec-section/p2p-section'
import { parse, UsageError } from '../args.js'
import { readKeyFile } from '../identity-file.js'
import { parseMultiaddr } from './genesis.js'
import { checkListenAddresses, isListenError } from './start.js'

const HELP = `usage: parsec-peer dht --listen MULTIADDR [--listen MULTIADDR ...] [--bootstrap MULTIADDR ...]
                       [--key FILE] [--json]

Runs a peer of the DHT shared by every section (${constants.SHARED_DHT_PROTOCOL}) that belongs to no
section: a bootstrap node for anyone. Section members provide their section's CID through it, and
a peer that knows only a section id and this node's address finds the members.
  --listen MULTIADDR     where to listen (e.g. /ip4/127.0.0.1/tcp/4000); repeatable
  --bootstrap MULTIADDR  other DHT peers to join through (each ending in /p2p/PEERID); repeatable
  --key FILE             the identity to run with (a key file of 'parsec-peer keygen'), so that
                         the peer id in others' bootstrap lists stays the same across restarts;
                         without it a new identity each run
  --json                 print one JSON object {"peerId", "addrs"} instead of the human line
Prints its peer id and addresses (each ending in /p2p/PEERID, usable as --bootstrap), then runs
until SIGINT or SIGTERM (exit 0). Bad arguments: exit 2.`

const STOP_TIMEOUT_MS = 10_000

export const dhtCommand = {
  summary: 'run a peer of the shared DHT only (a bootstrap node for any section)',
  async run(args: string[]): Promise<number> {
    try {
      return await runDht(args)
    } finally {
      // libp2p leaves timers behind for about a second after a stop: never hang on exit.
      setTimeout(() => process.exit(), 2000).unref()
    }
  },
}

async function runDht(args: string[]): Promise<number> {
  const { values } = parse(args, {
    listen: { type: 'string', multiple: true },
    bootstrap: { type: 'string', multiple: true },
    key: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    console.log(HELP)
    return 0
  }
  const listen = (values.listen as string[] | undefined) ?? []
  if (listen.length === 0)
    throw new UsageError('--listen MULTIADDR is required (e.g. /ip4/127.0.0.1/tcp/4000)')
  for (const text of listen) parseMultiaddr(text, '--listen')
  const bootstrap = (values.bootstrap as string[] | undefined) ?? []
  for (const text of bootstrap) {
    const addr: Multiaddr = parseMultiaddr(text, '--bootstrap')
    if (!addr.getComponents().some((c) => c.name === 'p2p')) {
      throw new UsageError(`--bootstrap: '${text}' must end in /p2p/PEERID`)
    }
  }
  const keyPath = values.key as string | undefined
  if (keyPath === '') throw new UsageError('--key takes a key file')
  const identity = keyPath === undefined ? undefined : readKeyFile(keyPath)
  await checkListenAddresses(listen)

  let node: DhtNode
  try {
    node = await createDhtNode({
      listen,
      bootstrap,
      ...(identity === undefined ? {} : { privateKey: identity.privateKey }),
    })
  } catch (error) {
    if (isListenError(error)) {
      throw new UsageError(`cannot listen on ${listen.join(', ')}: ${(error as Error).message}`)
    }
    console.error(`parsec-peer dht: the libp2p node did not start: ${(error as Error).message}`)
    return 1
  }
  const peerId = node.peerId.toString()
  const addrs = node.getMultiaddrs().map((a) => a.toString())
  if (values.json === true) console.log(JSON.stringify({ peerId, addrs }))
  else
    console.log(
      `dht: peer ${peerId} serving ${constants.SHARED_DHT_PROTOCOL}; listening on ${addrs.join(' ')}`,
    )

  const reason = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
  })
  const force = (): void => {
    console.error('parsec-peer dht: stopping forcibly')
    process.exit(1)
  }
  process.once('SIGINT', force)
  process.once('SIGTERM', force)
  const forceTimer = setTimeout(() => {
    console.error(`parsec-peer dht: did not stop within ${STOP_TIMEOUT_MS} ms`)
    process.exit(1)
  }, STOP_TIMEOUT_MS)
  forceTimer.unref()
  if (values.json !== true) console.log(`stopping (${reason})`)
  let code = 0
  try {
    await node.stop()
  } catch (error) {
    console.error(`parsec-peer dht: stopping the node failed: ${(error as Error).message}`)
    code = 1
  }
  clearTimeout(forceTimer)
  // Stopped: a signal now (while the last handles close) exits with this code, not as forced.
  process.off('SIGINT', force)
  process.off('SIGTERM', force)
  const done = (): void => process.exit(code)
  process.once('SIGINT', done)
  process.once('SIGTERM', done)
  return code
}
