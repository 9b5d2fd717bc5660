/**
 * The section's transactions (README: "Transactions"): `submit` queues them in the batcher, which
 * votes a batch once its window passed and fewer than `openBatches` of ours are open (the engine
 * agrees one voter's payloads in the order voted, so they are delivered in the order submitted);
 * delivered batches are read back into `transaction` events and the `transactions()` query.
 * Single-mode sections only: there a batch is one peer's vote, its voter the proposer of its
 * transactions.
 */
import type { Logger, PeerId } from '@libp2p/interface'
import type { Block, ConsensusMode } from '@parsec-section/parsec-core'
import { SectionError } from '../errors.js'
import { BatchDecodeError, decodeBatch, isBatch } from '../transactions/batch-codec.js'
import { maxTransactionBytes, TxBatcher } from '../transactions/batcher.js'
import type { DeliveredBlock, DeliveredTransaction } from './api.js'

export interface TransactionsDeps {
  /** The section's mode (undefined while a joiner does not know it). */
  readonly mode: () => ConsensusMode | undefined
  /** Waits until the service runs (rejects as `ready()` does). */
  readonly ready: () => Promise<void>
  readonly started: () => boolean
  /** Votes a batch payload (the service's vote, past the reserved-payload check). */
  readonly vote: (payload: Uint8Array) => Promise<void>
  /** Our batches voted and not delivered. */
  readonly openBatches: () => number
  /**
   * Whether a batch of ours is set aside (a rebase: looked up, maybe voted again, so after any
   * batch voted meanwhile: none is voted until it is settled).
   */
  readonly batchAside: () => boolean
  readonly proposerOf: (block: Block) => PeerId | undefined
  readonly blocks: (from: number, limit: number) => DeliveredBlock[]
}

export interface TransactionLimits {
  readonly windowMs: number
  readonly batchBytes: number
  /** Batches of ours voted and not delivered at once, at most (the engine agrees them in order). */
  readonly openBatches: number
  readonly maxQueuedBytes: number
}

export class Transactions {
  private batcher: TxBatcher
  readonly maxTxBytes: number
  /** Batches that did not decode (a peer of another build, or a faulty one): skipped. */
  malformed = 0

  constructor(
    private readonly deps: TransactionsDeps,
    private readonly limits: TransactionLimits,
    private readonly log: Logger,
  ) {
    this.maxTxBytes = maxTransactionBytes(limits.batchBytes)
    if (this.maxTxBytes < 1) throw new SectionError('InvalidArgument', 'transactionBatchBytes is too small')
    if (!Number.isInteger(limits.openBatches) || limits.openBatches < 1) {
      throw new SectionError('InvalidArgument', 'transactionOpenBatches is an integer of at least 1')
    }
    this.batcher = this.newBatcher()
  }

  private newBatcher(): TxBatcher {
    return new TxBatcher({
      windowMs: this.limits.windowMs,
      maxBatchBytes: this.limits.batchBytes,
      vote: this.deps.vote,
      mayVote: () => !this.deps.batchAside() && this.deps.openBatches() < this.limits.openBatches,
    })
  }

  async submit(tx: Uint8Array): Promise<void> {
    if (tx.length === 0) throw new SectionError('InvalidArgument', 'a transaction holds at least 1 byte')
    if (tx.length > this.maxTxBytes) {
      throw new SectionError('InvalidArgument', `a transaction takes at most ${this.maxTxBytes} bytes`)
    }
    if (!this.deps.started()) throw new SectionError('NotStarted', 'the section service is not started')
    await this.deps.ready()
    const mode = this.deps.mode()
    if (mode !== 'single') {
      throw new SectionError(
        'TransactionsNeedSingleMode',
        `transactions belong to Single-mode sections; this one is ${mode ?? 'unknown'}`,
      )
    }
    if (this.batcher.queuedTxBytes + tx.length > this.limits.maxQueuedBytes) {
      throw new SectionError(
        'TransactionQueueFull',
        `${this.batcher.queuedTxBytes} transaction bytes wait for their batch: try again later`,
      )
    }
    // Our own copy (the caller may reuse its buffer); a typed-array slice copies in one go.
    return this.batcher.submit(Uint8Array.prototype.slice.call(tx))
  }

  /** A block of ours was delivered: the next batch may go. */
  kick(): void {
    this.batcher.kick()
  }

  /** Refuses what waits for its batch (a service started again starts with an empty queue). */
  stop(): void {
    this.batcher.stop(new SectionError('NotStarted', 'the section service stopped'))
    this.batcher = this.newBatcher()
  }

  /** Transactions of ours queued or in a batch not delivered yet. */
  busy(): boolean {
    return this.batcher.queued > 0 || this.deps.openBatches() > 0 || this.deps.batchAside()
  }

  get queued(): number {
    return this.batcher.queued
  }

  /** The transactions a delivered block carries (none: not a batch, or not a Single-mode section). */
  of(delivered: DeliveredBlock): DeliveredTransaction[] {
    const { block, position } = delivered
    if (block.payload.kind !== 'opaque' || !isBatch(block.payload.payload)) return []
    if (this.deps.mode() !== 'single') return []
    let txs: Uint8Array[]
    try {
      txs = decodeBatch(block.payload.payload).txs
    } catch (error) {
      if (!(error instanceof BatchDecodeError)) throw error
      this.malformed++
      this.log('block %d: a malformed transaction batch (%s): skipped', position, error.code)
      return []
    }
    const proposer = this.deps.proposerOf(block)
    return txs.map((tx, index) => ({ position, index, tx, ...(proposer === undefined ? {} : { proposer }) }))
  }

  /** Whole blocks from `from` on until at least `limit` transactions. */
  list(from: number, limit: number): DeliveredTransaction[] {
    const out: DeliveredTransaction[] = []
    let at = from
    const page = 256
    while (out.length < limit) {
      const blocks = this.deps.blocks(at, page)
      for (const block of blocks) {
        out.push(...this.of(block))
        if (out.length >= limit) return out
      }
      if (blocks.length < page) return out
      at = blocks[blocks.length - 1].position + 1
    }
    return out
  }
}
