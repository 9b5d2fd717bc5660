/** A tiny in-process section for unit tests: seeded, synchronous gossip between mock peers. */
import type { Block, ConsensusMode, Parsec as ParsecType } from '../src/index.js'
import { describeBlock, MockSecretId, mockId, Parsec } from '../src/index.js'
import { Rng } from '../src/rng.js'

/** The simulation's seeded PRNG as a `() => [0, 1)` function for tests. */
export function seededRandom(seed: number): () => number {
  const rng = new Rng(seed)
  return () => rng.float()
}

export const NAMES = ['Alice', 'Bob', 'Carol', 'Dave', 'Eric', 'Fred', 'Gina', 'Hank', 'Iris', 'Judy']

export class TestSection {
  readonly nodes: ParsecType[]
  readonly blocks: Block[][]

  constructor(
    size: number,
    readonly random: () => number,
    consensusMode: ConsensusMode = 'supermajority',
  ) {
    const ids = NAMES.slice(0, size).map(mockId)
    this.nodes = NAMES.slice(0, size).map((name) =>
      Parsec.fromGenesis({ us: new MockSecretId(name), genesis: ids, consensusMode }),
    )
    this.blocks = this.nodes.map(() => [])
  }

  node(name: string): ParsecType {
    return this.nodes[NAMES.indexOf(name)]
  }

  /** One honest sync from a random peer to a random recipient of it. */
  gossipOnce(): void {
    const from = this.nodes[Math.floor(this.random() * this.nodes.length)]
    const recipients = from.gossipRecipients()
    const to = this.node(recipients[Math.floor(this.random() * recipients.length)].name)
    const request = from.createGossip(to.ourId)
    const { response } = to.handleRequest(from.ourId, request)
    from.handleResponse(to.ourId, response)
    this.pollAll()
  }

  pollAll(): void {
    this.nodes.forEach((node, i) => {
      for (let block = node.poll(); block !== undefined; block = node.poll()) this.blocks[i].push(block)
    })
  }

  /** Gossips until every peer holds `count` blocks, or throws after `maxSyncs`. */
  runUntilBlocks(count: number, maxSyncs = 5000): void {
    for (let i = 0; i < maxSyncs; i++) {
      if (this.blocks.every((b) => b.length >= count)) return
      this.gossipOnce()
    }
    throw new Error(
      `no agreement on ${count} blocks after ${maxSyncs} syncs: ${this.blocks.map((b) => b.length)}`,
    )
  }

  /** Block descriptions (without voters) per peer. */
  descriptions(): string[][] {
    return this.blocks.map((list) =>
      list.map((block) => {
        const { voters: _voters, ...rest } = describeBlock(block)
        return JSON.stringify(rest)
      }),
    )
  }
}
