/** A tiny in-process section for unit tests: seeded, synchronous gossip between mock peers. */
import type { Block, ConsensusMode, Decision, Parsec as ParsecType, Step, Warning } from '../src/index.js'
import { describeBlock, MockSecretId, mockId, Parsec } from '../src/index.js'
import { Rng } from '../src/rng.js'

/** The simulation's seeded PRNG as a `() => [0, 1)` function for tests. */
export function seededRandom(seed: number): () => number {
  const rng = new Rng(seed)
  return () => rng.float()
}

/** Blocks the steps of each engine handed over, not yet taken by `takeBlocks`. */
const handedOver = new WeakMap<ParsecType, Block[]>()

/** Keeps `step`'s blocks for `takeBlocks(node)`. */
export function keep<M>(node: ParsecType, step: Step<M>): Step<M> {
  if (step.blocks.length > 0) {
    let list = handedOver.get(node)
    if (list === undefined) handedOver.set(node, (list = []))
    for (const { block } of step.blocks) list.push(block)
  }
  return step
}

/** `keep`, then throws the step's error, if any (what the calls did before steps). */
export function took<M>(node: ParsecType, step: Step<M>): Step<M> {
  keep(node, step)
  if (step.error !== undefined) throw step.error
  return step
}

/** `took`, returning the step's message (which must be there). */
export function message<M>(node: ParsecType, step: Step<M>): M {
  const taken = took(node, step)
  if (taken.message === undefined) throw new Error('the step has no message')
  return taken.message
}

/** Every block `node` agreed and did not hand over yet: those its steps handed over, then `poll()`. */
export function takeBlocks(node: ParsecType): Block[] {
  const out = handedOver.get(node) ?? []
  handedOver.delete(node)
  for (let block = node.poll(); block !== undefined; block = node.poll()) out.push(block)
  return out
}

export const NAMES = ['Alice', 'Bob', 'Carol', 'Dave', 'Eric', 'Fred', 'Gina', 'Hank', 'Iris', 'Judy']

export class TestSection {
  readonly nodes: ParsecType[]
  readonly blocks: Block[][]
  /** Per node name, the warnings and decisions its gossip steps carried. */
  readonly warnings = new Map<string, Warning[]>()
  readonly decisions = new Map<string, Decision[]>()

  constructor(
    size: number,
    readonly random: () => number,
    consensusMode: ConsensusMode = 'supermajority',
    options: { readonly referenceRules?: boolean } = {},
  ) {
    const ids = NAMES.slice(0, size).map(mockId)
    this.nodes = NAMES.slice(0, size).map((name) =>
      Parsec.fromGenesis({ us: new MockSecretId(name), genesis: ids, consensusMode, ...options }),
    )
    this.blocks = this.nodes.map(() => [])
  }

  node(name: string): ParsecType {
    return this.nodes[NAMES.indexOf(name)]
  }

  /** One honest sync from a random peer to a random recipient of it (removed peers stay out). */
  gossipOnce(): void {
    const from = this.nodes[Math.floor(this.random() * this.nodes.length)]
    const recipients = from.gossipRecipients()
    if (recipients.length === 0 || from.isRemoved) return
    const to = this.node(recipients[Math.floor(this.random() * recipients.length)].name)
    if (to.isRemoved) return
    const request = message(from, this.note(from, from.createGossip(to.ourId)))
    const answer = keep(to, this.note(to, to.handleRequest(from.ourId, request)))
    // Gossip from a peer the receiver removed is refused, as the protocol says.
    if (answer.error?.code !== 'InvalidPeerState') {
      if (answer.error !== undefined || answer.message === undefined)
        throw answer.error ?? new Error('no response')
      const last = keep(from, this.note(from, from.handleResponse(to.ourId, answer.message)))
      if (last.error !== undefined && last.error.code !== 'InvalidPeerState') throw last.error
    }
    this.pollAll()
  }

  /** Records a step's warnings and decisions under its node's name. */
  note<M>(node: ParsecType, step: Step<M>): Step<M> {
    const name = node.ourId.name
    if (step.warnings.length > 0)
      this.warnings.set(name, [...(this.warnings.get(name) ?? []), ...step.warnings])
    if (step.decisions.length > 0)
      this.decisions.set(name, [...(this.decisions.get(name) ?? []), ...step.decisions])
    return step
  }

  pollAll(): void {
    this.nodes.forEach((node, i) => {
      this.blocks[i].push(...takeBlocks(node))
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
