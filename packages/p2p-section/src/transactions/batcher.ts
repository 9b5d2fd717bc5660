/**
 * Batches the transactions submitted at this peer into payloads (batch-codec.ts) and votes them in
 * order, one vote at a time, while `mayVote` allows (a bound on our open batches: voted, not
 * delivered). The engine agrees one voter's payloads in the order voted, so this peer's
 * transactions are delivered in the order submitted.
 *
 * From idle, a batch waits `windowMs` for more transactions, or less once `maxBatchBytes` are
 * queued; while no batch may be voted the next one fills, and goes as soon as one may.
 */
import { randomBytes } from 'node:crypto'
import { BATCH_HEADER_BYTES, encodeBatch, framedLength, NONCE_BYTES } from './batch-codec.js'

export interface BatcherOptions {
  /** How long a first transaction waits for others before its batch is voted. */
  readonly windowMs: number
  /** The largest batch payload, header included. */
  readonly maxBatchBytes: number
  /** Votes a batch: resolves once the vote is stored. */
  readonly vote: (batch: Uint8Array) => Promise<void>
  /** Whether a batch may be voted now (fewer of ours open than allowed). */
  readonly mayVote: () => boolean
  /** Runs `fn` after `ms`; returns a cancel function (default: setTimeout). */
  readonly schedule?: (fn: () => void, ms: number) => () => void
  readonly nonce?: () => Uint8Array
}

interface Entry {
  readonly tx: Uint8Array
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

/** The largest transaction a batch of `maxBatchBytes` holds. */
export function maxTransactionBytes(maxBatchBytes: number): number {
  let size = maxBatchBytes - BATCH_HEADER_BYTES
  while (size > 0 && framedLength(size) > maxBatchBytes - BATCH_HEADER_BYTES) size--
  return size
}

export class TxBatcher {
  private queue: Entry[] = []
  /** The framed bytes of the queued transactions. */
  private queuedBytes = 0
  private cancelTimer: (() => void) | undefined
  /** The queue's head has waited its window (or a full batch is queued). */
  private due = false
  private voting = false
  private stopped: Error | undefined
  private readonly schedule: (fn: () => void, ms: number) => () => void
  private readonly nonce: () => Uint8Array

  constructor(private readonly options: BatcherOptions) {
    this.schedule =
      options.schedule ??
      ((fn, ms) => {
        const timer = setTimeout(fn, ms)
        return () => clearTimeout(timer)
      })
    this.nonce = options.nonce ?? (() => Uint8Array.from(randomBytes(NONCE_BYTES)))
  }

  /** Transactions queued, not yet in a voted batch. */
  get queued(): number {
    return this.queue.length
  }

  get queuedTxBytes(): number {
    return this.queuedBytes
  }

  /** Queues a transaction (its size checked by the caller); resolves once its batch is voted. */
  submit(tx: Uint8Array): Promise<void> {
    if (this.stopped !== undefined) return Promise.reject(this.stopped)
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ tx, resolve, reject })
      this.queuedBytes += framedLength(tx)
      if (this.queuedBytes + BATCH_HEADER_BYTES >= this.options.maxBatchBytes) this.due = true
      else if (!this.due && this.cancelTimer === undefined) {
        this.cancelTimer = this.schedule(() => {
          this.cancelTimer = undefined
          this.due = true
          this.pump()
        }, this.options.windowMs)
      }
      this.pump()
    })
  }

  /** Something changed that may let a batch be voted (a batch of ours was delivered). */
  kick(): void {
    this.pump()
  }

  /** Refuses every queued and later transaction with `error`. */
  stop(error: Error): void {
    this.stopped = error
    this.cancelTimer?.()
    this.cancelTimer = undefined
    const queue = this.queue
    this.queue = []
    this.queuedBytes = 0
    for (const entry of queue) entry.reject(error)
  }

  private pump(): void {
    if (this.voting || this.stopped !== undefined || this.queue.length === 0 || !this.due) return
    if (!this.options.mayVote()) return
    let bytes = BATCH_HEADER_BYTES
    let n = 0
    while (n < this.queue.length) {
      const next = framedLength(this.queue[n].tx)
      if (n > 0 && bytes + next > this.options.maxBatchBytes) break
      bytes += next
      n++
    }
    const batch = this.queue.splice(0, n)
    for (const entry of batch) this.queuedBytes -= framedLength(entry.tx)
    // What is left has waited for this batch: it goes next, as soon as this one is delivered.
    this.due = this.queue.length > 0
    if (!this.due) {
      this.cancelTimer?.()
      this.cancelTimer = undefined
    }
    this.voting = true
    let payload: Uint8Array
    try {
      payload = encodeBatch(
        batch.map((entry) => entry.tx),
        this.nonce(),
      )
    } catch (error) {
      this.voting = false
      for (const entry of batch) entry.reject(error)
      this.pump()
      return
    }
    this.options
      .vote(payload)
      .then(
        () => {
          for (const entry of batch) entry.resolve()
        },
        (error: unknown) => {
          for (const entry of batch) entry.reject(error)
        },
      )
      .finally(() => {
        this.voting = false
        this.pump()
      })
  }
}
