/**
 * A child process for the flood test: `identities` fresh peers (non-members), each connected to
 * every target, open membership streams at `perSecond` in all (round robin over the connections)
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
  const connections: Connection[] = []
  for (let i = 0; i < config.identities; i++) {
    const node = await createLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux({ maxInboundStreams: 4096, maxOutboundStreams: 4096 })],
      connectionManager: { maxConnections: 1000 },
    })
    nodes.push(node)
    for (const target of config.targets) connections.push(await node.dial(multiaddr(target)))
  }
  let opened = 0
  let acked = 0
  let refused = 0
  const open = (connection: Connection): void => {
    opened++
    connection
      .newStream(config.protocol, { negotiateFully: false, maxOutboundStreams: 4096 })
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
      .catch(() => {
        refused++
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
      while (next < due) open(connections[next++ % connections.length])
    }, 5)
  })
  const elapsedMs = Date.now() - started
  // The last streams' fate.
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  await Promise.all(nodes.map((node) => node.stop()))
  return { opened, acked, refused, elapsedMs }
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
