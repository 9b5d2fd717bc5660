/**
 * A child process for the flood test: `identities` fresh peers (non-members), each connected to
 * every target, open membership streams at `perSecond` in all (round robin over the connections,
 * dialled again when a target closes one)
 * for `durationMs`, each carrying one JoinInfoRequest, and count what became of them: acknowledged
 * (the target read it and answered) or reset/refused. Started with `fork(thisFile, [JSON of
 * FloodConfig])`; sends one `FloodReport` when done and exits.
 */
import '../src/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import type { Multiaddr } from '@multiformats/multiaddr'
import { multiaddr } from '@multiformats/multiaddr'
import { encodeCanonical } from '@parsec-section/membership'
import { createLibp2p, type Libp2p } from 'libp2p'
import { fromString } from 'uint8arrays'

export interface FloodConfig {
  readonly targets: readonly string[]
  readonly protocol: string
  /** The section id (hex), for the JoinInfoRequest. */
  readonly sectionId: string
  readonly identities: number
  readonly perSecond: number
  readonly durationMs: number
}

export interface FloodReport {
  readonly opened: number
  readonly acked: number
  readonly refused: number
  readonly elapsedMs: number
  /** Why streams failed to open, by error name (diagnostics). */
  readonly openErrors: Record<string, number>
  /** Connections to the targets still open at the end. */
  readonly openConnections: number
}

interface Pair {
  readonly node: Libp2p
  readonly target: Multiaddr
  connection: Connection
  dialing?: Promise<Connection> | undefined
}

function varint(value: number): Uint8Array {
  const bytes: number[] = []
  while (value >= 0x80) {
    bytes.push((value & 0x7f) | 0x80)
    value = Math.floor(value / 0x80)
  }
  bytes.push(value)
  return Uint8Array.from(bytes)
}

async function main(config: FloodConfig): Promise<FloodReport> {
  // Wire version 1, kind 1 (JoinInfoRequest), the section id; framed with a varint length.
  const message = encodeCanonical((w) => {
    w.u8(1).u8(1).bytes(fromString(config.sectionId, 'base16'))
  })
  const frame = new Uint8Array([...varint(message.length), ...message])
  const nodes: Libp2p[] = []
  const pairs: Pair[] = []
  for (let i = 0; i < config.identities; i++) {
    const node = await createLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux({ maxInboundStreams: 4096, maxOutboundStreams: 4096 })],
      connectionManager: { maxConnections: 1000 },
    })
    nodes.push(node)
    await Promise.all(
      config.targets.map(async (target) => {
        const addr = multiaddr(target)
        pairs.push({ node, target: addr, connection: await node.dial(addr) })
      }),
    )
    // Under libp2p's inbound connection rate limit per host (8 a second here).
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
  let opened = 0
  let acked = 0
  let refused = 0
  const openErrors: Record<string, number> = {}
  // Over the open connection, or a new one when a target closed it (as an attacker would).
  const connectionOf = async (pair: Pair): Promise<Connection> => {
    if (pair.connection.status === 'open') return pair.connection
    pair.dialing ??= pair.node.dial(pair.target, { signal: AbortSignal.timeout(5_000) }).finally(() => {
      pair.dialing = undefined
    })
    pair.connection = await pair.dialing
    return pair.connection
  }
  const open = (pair: Pair): void => {
    opened++
    connectionOf(pair)
      .then((connection) =>
        connection.newStream(config.protocol, { negotiateFully: false, maxOutboundStreams: 4096 }),
      )
      .then((stream) => {
        let answered = false
        stream.addEventListener('message', () => {
          if (!answered) acked++
          answered = true
          stream.abort(new Error('done'))
        })
        stream.addEventListener('close', () => {
          if (!answered) refused++
          answered = true
        })
        stream.send(frame)
      })
      .catch((error: Error) => {
        refused++
        const name = `${error.name}: ${error.message.slice(0, 60)}`
        openErrors[name] = (openErrors[name] ?? 0) + 1
      })
  }
  const started = Date.now()
  let next = 0
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = Date.now() - started
      if (elapsed >= config.durationMs) {
        clearInterval(tick)
        resolve()
        return
      }
      // Catch up to the rate however late the timer fires.
      const due = Math.floor((elapsed / 1000) * config.perSecond)
      while (next < due) open(pairs[next++ % pairs.length])
    }, 5)
  })
  const elapsedMs = Date.now() - started
  // The last streams' fate.
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const openConnections = pairs.filter((p) => p.connection.status === 'open').length
  await Promise.all(nodes.map((node) => node.stop()))
  return { opened, acked, refused, elapsedMs, openErrors, openConnections }
}

const config = JSON.parse(process.argv[2] ?? '{}') as FloodConfig
main(config).then(
  (report) => {
    process.send?.(report)
    process.exit(0)
  },
  (error: Error) => {
    console.error(error)
    process.exit(1)
  },
)
