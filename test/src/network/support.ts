/** Real libp2p sections on 127.0.0.1 for tests: keys, genesis, nodes, and waiting on events. */
import '@parsec-section/p2p-section/polyfill'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  createGenesis,
  createSectionNode,
  type DeliveredBlock,
  type ParsecSectionEvents,
  type ParsecSectionInit,
  type ParsecSectionService,
  type SectionGenesis,
} from '@parsec-section/p2p-section'

export type TestNode = Awaited<ReturnType<typeof createSectionNode>>

/** A node's engine, for tests that read its graph (undefined before start fails the test). */
export function engineOf(node: TestNode) {
  const engine = (node.services.section as unknown as ParsecSectionService).parsec
  if (engine === undefined) throw new Error('the section service has no engine yet')
  return engine
}

export interface TestSection {
  readonly genesis: SectionGenesis
  readonly keys: PrivateKey[]
  readonly nodes: TestNode[]
  /** Blocks delivered at each node, in delivery order. */
  readonly blocks: DeliveredBlock[][]
  stop(): Promise<void>
}

export interface SectionOptions extends Partial<ParsecSectionInit> {
  readonly discovery?: boolean
  /**
   * What the members know of each other's addresses: `all` (default) tells every node where every
   * other listens; `first` tells members 1.. only where member 0 listens (before they start), so
   * they must find each other through discovery.
   */
  readonly connect?: 'all' | 'first'
  /** The section's consensus mode (default single). */
  readonly mode?: 'single' | 'supermajority'
}

/** Starts a section of `size` members; the last `absent` of them are left for the test to play. */
export async function startSection(
  size: number,
  sectionOptions: SectionOptions = {},
  absent = 0,
): Promise<TestSection> {
  const { connect = 'all', mode, ...options } = sectionOptions
  const keys = await Promise.all(Array.from({ length: size }, () => generateKeyPair('Ed25519')))
  const genesis = createGenesis(
    keys.map((key) => ({ peerId: peerIdFromPrivateKey(key) })),
    mode ?? options.genesis?.mode ?? 'single',
  )
  const nodes: TestNode[] = []
  const blocks: DeliveredBlock[][] = []
  for (const key of keys.slice(0, size - absent)) {
    const node = await createSectionNode({
      discovery: false,
      ...options,
      genesis,
      privateKey: key,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      start: false,
    })
    const delivered: DeliveredBlock[] = []
    node.services.section.addEventListener('block', (event) => delivered.push(event.detail))
    nodes.push(node)
    blocks.push(delivered)
  }
  try {
    for (const node of nodes) {
      if (connect === 'first' && node !== nodes[0]) {
        await node.peerStore.merge(nodes[0].peerId, { multiaddrs: nodes[0].getMultiaddrs() })
      }
      await node.start()
    }
    if (connect === 'all') await connectAll(nodes)
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()))
    throw error
  }
  return {
    genesis,
    keys,
    nodes,
    blocks,
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()))
    },
  }
}

/** Tells every node where the others listen (what genesis addresses or discovery would do). */
export async function connectAll(nodes: readonly TestNode[]): Promise<void> {
  for (const node of nodes) {
    for (const other of nodes) {
      if (other === node) continue
      await node.peerStore.merge(other.peerId, { multiaddrs: other.getMultiaddrs() })
    }
  }
}

/**
 * Resolves when `predicate` holds, checked after each `event` (or any of several) at any node;
 * rejects after `timeoutMs`.
 */
export function waitFor(
  nodes: readonly TestNode[],
  predicate: () => boolean,
  timeoutMs: number,
  describe: () => string,
  event: keyof ParsecSectionEvents | readonly (keyof ParsecSectionEvents)[] = 'block',
): Promise<void> {
  const events = typeof event === 'string' ? [event] : event
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (predicate()) {
        cleanup()
        resolve()
      }
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`timed out after ${timeoutMs} ms: ${describe()}`))
    }, timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      for (const node of nodes)
        for (const type of events) node.services.section.removeEventListener(type, check)
    }
    for (const node of nodes) for (const type of events) node.services.section.addEventListener(type, check)
    check()
  })
}

/**
 * Until `node`'s peer store holds `tag` on `peer` (or, with `present` false, no longer does):
 * checked now and at each of the node's peer-store updates.
 */
export function peerTagged(
  node: TestNode,
  peer: PeerId,
  tag: string,
  present: boolean,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false
    const check = (): void => {
      node.peerStore
        .get(peer)
        .then(
          (found) => found.tags.has(tag),
          () => false,
        )
        .then(
          (has) => {
            if (done || has !== present) return
            cleanup()
            resolve()
          },
          () => {},
        )
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(
        new Error(
          `timed out after ${timeoutMs} ms: ${peer} ${present ? 'not' : 'still'} tagged ${tag} at ${node.peerId}`,
        ),
      )
    }, timeoutMs)
    const cleanup = (): void => {
      done = true
      clearTimeout(timer)
      node.removeEventListener('peer:update', check)
    }
    node.addEventListener('peer:update', check)
    check()
  })
}

export function payloadTexts(blocks: readonly DeliveredBlock[]): string[] {
  return blocks.map(({ description }) => {
    const { voters: _voters, ...rest } = description
    return JSON.stringify(rest)
  })
}

/**
 * Membership options that admit a joiner within seconds (light proof of work, short probation,
 * generous join rates), for the tests where peers join a running section.
 */
export const QUICK_ADMISSION = {
  powBits: 4,
  probationBlocks: 4,
  minBlocksBetweenAdds: 1,
  readyLag: 2,
  candidateTimeoutMs: 10_000,
  joinRate: { burst: 8, perSecond: 4 },
  joinInfoRate: { burst: 8, perSecond: 4 },
} as const
