/**
 * The journal: every engine step's output goes through it before anything that depends on it
 * leaves the peer. `take` queues a step's events (to persist) and blocks (to deliver) and reports
 * its faults; `flush` persists everything taken so far as one atomic batch, chained after the
 * earlier ones so the store always holds a prefix of the graph, then delivers the new blocks.
 * Whoever sends awaits the flush first: persist, then deliver, then send, so a restarted peer
 * never forks itself. A failed write fails the service for good (`Lifecycle.failStore`).
 *
 * Block retention (`ParsecSectionInit.blockRetention`): only the last N delivered blocks are kept,
 * in memory and in the store (each flush deletes the older ones in the batch that writes the new
 * ones). Positions never change: `retainedFrom` is the first one kept, `deliveredCount` the next
 * one to deliver. The decided blocks are kept until they are delivered and the membership machine
 * folded them (`JournalObserver.neededFrom`).
 */
import type { Logger, PeerId } from '@libp2p/interface'
import {
  type Block,
  type BlockDescription,
  decodeBlock,
  decodePackedEvent,
  describeBlock,
  ed25519Scheme,
  encodeBlock,
  encodeObservation,
  type PackedEvent,
  type Parsec,
  type Restoring,
  type Step,
} from '@parsec-section/parsec-core'
import { equals } from 'uint8arrays'
import { packedEventBytes } from '../codec.js'
import { SectionError } from '../errors.js'
import { peerIdFromPublicId } from '../identity.js'
import { storageCorrupt } from '../record.js'
import type { SectionStorage, StoredEpoch } from '../storage.js'
import type { DeliveredBlock } from './api.js'
import type { Lifecycle } from './lifecycle.js'
import type { Reporter } from './reporter.js'

/**
 * Whether `stored` (`encodeBlock` bytes, or `encodeObservation`'s before format 6) is `block`:
 * its observation (proofs are local to a peer and not compared).
 */
function storedAs(block: Block, stored: Uint8Array): boolean {
  if (equals(encodeBlock(block), stored)) return true
  try {
    return equals(
      encodeObservation(decodeBlock(stored, ed25519Scheme).payload),
      encodeObservation(block.payload),
    )
  } catch {
    return false
  }
}

/**
 * Stored events decoded one at a time as the engine takes them. A module function: a closure in
 * `restore` holding stored bytes would keep them alive as long as any closure made there (they
 * share its context).
 */
function* decodeEach(stored: readonly Uint8Array[]): Generator<PackedEvent> {
  for (const bytes of stored) yield decodePackedEvent(bytes, ed25519Scheme)
}

/** A delivered block, as kept: its description (twice the payload's size) is built when read. */
class Delivered implements DeliveredBlock {
  constructor(
    readonly position: number,
    readonly block: Block,
  ) {}

  /** Peers named by peer id (the engine's names are key hex). */
  get description(): BlockDescription {
    return describeBlock(this.block, (id) => peerIdFromPublicId(id).toString())
  }
}

/** Follows what the journal takes and delivers (the membership host). */
export interface JournalObserver {
  /** An engine step was taken (its decisions and events, before they are persisted). */
  took(step: Step<unknown>): void
  /** A flush ended: the blocks it delivered (maybe none), in agreed order. */
  flushed(blocks: readonly DeliveredBlock[]): void
  /** The first decided block it may still ask for (`decidedBlock`): those before it may be dropped. */
  neededFrom(): number
}

export class Journal {
  private observer: JournalObserver | undefined
  /** The delivered blocks kept, from position `deliveredBase` on. */
  private readonly delivered: DeliveredBlock[] = []
  private deliveredBase = 0
  /** The decided blocks kept, from position `decidedBase` on. */
  private readonly decided: Block[] = []
  private decidedBase = 0
  /** Events the engine's steps produced, encoded, not yet persisted (in insertion order). */
  private unpersistedEvents: Uint8Array[] = []
  private persistedEvents = 0
  private persistedBlocks = 0
  private flushing: Promise<void> = Promise.resolve()
  private queuedFlush: Promise<void> | undefined
  /** The current engine's epoch, and the position its first block after genesis is delivered at. */
  private epochValue = 0
  private epochStartValue = 0
  /**
   * An agreed checkpoint ends its engine's part of the sequence (docs/epochs.md §2): whatever that
   * engine decides after it is never delivered (its payloads are voted again in the next epoch).
   * (Only a section that runs epochs votes checkpoints; an agreed one always starts an epoch.)
   */
  private epochEnded = false
  /**
   * Blocks whose `block` event waits: a newcomer installs the application's state at the last
   * checkpoint first (the snapshot hook). They are persisted and kept as usual meanwhile.
   */
  private held: DeliveredBlock[] | undefined
  /** Called after each block's event (the snapshot hook's digests at checkpoints). */
  private afterEmit: ((block: DeliveredBlock) => void) | undefined
  /** Called as each block is delivered, even while its event is held (our own votes' fate). */
  private onDeliver: ((block: DeliveredBlock) => void) | undefined

  /**
   * @param storage - undefined: nothing is persisted (blocks are still delivered in order)
   * @param retention - the delivered blocks kept (the last ones); undefined: all
   */
  constructor(
    private readonly storage: SectionStorage | undefined,
    private readonly lifecycle: Lifecycle,
    private readonly reporter: Reporter,
    private readonly log: Logger,
    private readonly retention?: number,
  ) {
    if (retention !== undefined && (!Number.isSafeInteger(retention) || retention < 1))
      throw new SectionError('InvalidArgument', `blockRetention must be a positive integer, not ${retention}`)
  }

  /**
   * Restores the engine from the store (it becomes `lifecycle.engine`): the stored graph, then
   * the blocks it re-derives, of which those already delivered must match the stored record (the
   * ones still stored: retention dropped the earlier ones) and are not delivered again. With
   * retention, stored blocks beyond it (a smaller retention than the last run's) are dropped.
   * Returns how many events the store held.
   */
  async restore(
    us: PeerId,
    restoringFor: (epoch: StoredEpoch | undefined) => Restoring,
    sectionId: string,
  ): Promise<number> {
    let restoring: Restoring | undefined
    const storedEvents =
      this.storage === undefined
        ? 0
        : await this.storage.load(
            us,
            (batch) => restoring?.add(decodeEach(batch)),
            (epoch) => {
              // A later epoch's engine: built from its record; its blocks from the epoch's start.
              if (epoch !== undefined) this.restoringEpoch(epoch.epoch, epoch.start)
              restoring = restoringFor(epoch)
            },
          )
    restoring ??= restoringFor(undefined)
    this.lifecycle.engine = restoring.finish()
    this.pollEngine()
    const storedBlocks =
      this.storage === undefined
        ? 0
        : await this.storage.loadBlocks((batch, first) => this.redeliver(batch, first))
    this.persistedEvents = storedEvents
    this.persistedBlocks = storedBlocks
    // Where the stored blocks start (with none stored, where they will).
    if (this.storage !== undefined) this.deliveredBase = this.storage.blocksFrom
    if (storedBlocks === this.deliveredBase && storedBlocks < this.decidedBase) {
      // None stored, and an engine that starts from a checkpoint (a joiner's): it never held the
      // blocks before the epoch.
      this.deliveredBase = this.decidedBase
      this.persistedBlocks = this.decidedBase
      await this.storage?.startBlocksAt(this.decidedBase)
    }
    if (this.retention !== undefined && this.storage !== undefined) {
      this.trimDelivered()
      await this.storage.dropBlocksBelow(this.deliveredBase)
    }
    if (storedEvents > 0) {
      this.log(
        'resumed section %s: %d events, %d blocks delivered (from %d kept)',
        sectionId,
        storedEvents,
        storedBlocks,
        this.deliveredBase,
      )
    }
    return storedEvents
  }

  /** Stored blocks from position `first` on: each must be the block re-derived there; kept as delivered. */
  private redeliver(stored: readonly Uint8Array[], first: number): void {
    for (let i = 0; i < stored.length; i++) {
      const position = first + i
      if (position < this.decidedBase) {
        // An earlier epoch's block: its graph is gone, the stored record is all there is of it
        // (with no proofs if a format before 6 stored it).
        let block: Block
        try {
          block = decodeBlock(stored[i], ed25519Scheme)
        } catch {
          throw storageCorrupt(`stored block ${position} is damaged`)
        }
        this.delivered.push(new Delivered(position, block))
        continue
      }
      const block = this.decided[position - this.decidedBase]
      if (block === undefined || !storedAs(block, stored[i])) {
        throw new SectionError('StorageMismatch', `stored block ${position} does not match the stored graph`)
      }
      this.delivered.push(new Delivered(position, block))
    }
  }

  /** Blocks agreed outside a step (re-derived by the restore). */
  private pollEngine(): void {
    const engine: Parsec | undefined = this.lifecycle.engine
    if (engine === undefined) return
    for (let block = engine.poll(); block !== undefined; block = engine.poll()) this.decide(block)
  }

  /**
   * A block the current engine agreed, at the next position: none after the checkpoint that ended
   * its epoch, and not a later epoch's genesis block (its checkpoint stands for it).
   */
  private decide(block: Block): void {
    if (this.epochEnded) return
    if (this.epochValue > 0 && block.payload.kind === 'genesis') return
    this.decided.push(block)
    if (block.payload.kind === 'checkpoint') this.epochEnded = true
  }

  /** The positions decided so far (the next one to decide). */
  get decidedCount(): number {
    return this.decidedBase + this.decided.length
  }

  /** The current engine's epoch. */
  get epoch(): number {
    return this.epochValue
  }

  /** Global position = the current engine's block position + this (its genesis is not delivered). */
  get positionOffset(): number {
    return this.epochValue === 0 ? 0 : this.epochStartValue - 1
  }

  /**
   * The engine (`lifecycle.engine`, already replaced) starts epoch `epoch` at position `start`:
   * everything of the previous engine was persisted (flushed), every block before `start`
   * decided, and none after. Its events are numbered from 0 again (the store keeps them apart).
   */
  startEpoch(epoch: number, start: number): void {
    if (this.unpersistedEvents.length > 0)
      throw new SectionError('InvalidArgument', 'the previous epoch has events not persisted yet')
    if (this.decidedBase + this.decided.length !== start)
      throw new SectionError(
        'InvalidArgument',
        `epoch ${epoch} starts at ${start}, ${this.decidedBase + this.decided.length} blocks decided`,
      )
    this.epochValue = epoch
    this.epochStartValue = start
    this.epochEnded = false
    this.persistedEvents = 0
  }

  /**
   * We lagged at a switch by its checkpoint block alone (every block before it delivered; the
   * others decided it and dropped the epoch): that block, as the membership chain proves it, is
   * decided here at `position`, so the sequence goes on without a gap (the next flush stores and
   * delivers it). `startEpoch` follows.
   */
  adoptCheckpoint(block: Block, position: number): void {
    if (this.decidedCount !== position || block.payload.kind !== 'checkpoint')
      throw new SectionError(
        'InvalidArgument',
        `a checkpoint at ${position}: ${this.decidedCount} blocks decided`,
      )
    this.decided.push(block)
    this.epochEnded = true
  }

  /**
   * We lagged by whole epochs and start again at epoch `epoch`'s start (the machine's `rebase`):
   * the blocks between what we delivered and `start` are skipped, those we held are dropped
   * (delivered positions then run from `start`). Everything taken was flushed first.
   */
  rebase(epoch: number, start: number): void {
    if (this.unpersistedEvents.length > 0)
      throw new SectionError('InvalidArgument', 'the previous epoch has events not persisted yet')
    this.decided.length = 0
    this.decidedBase = start
    this.delivered.length = 0
    this.deliveredBase = start
    this.persistedBlocks = start
    this.persistedEvents = 0
    this.epochValue = epoch
    this.epochStartValue = start
    this.epochEnded = false
  }

  /** The epoch the restored engine is in (before `restore`): what the store's epoch record says. */
  restoringEpoch(epoch: number, start: number): void {
    this.epochValue = epoch
    this.epochStartValue = start
    this.decidedBase = epoch === 0 ? 0 : start
  }

  /** Called as each block is delivered (persisted), before its event and even while events are held. */
  onDelivered(listener: (block: DeliveredBlock) => void): void {
    this.onDeliver = listener
  }

  /** Called after each `block` event, in order. */
  onEmitted(listener: (block: DeliveredBlock) => void): void {
    this.afterEmit = listener
  }

  /**
   * The application's state before `from` is being installed: `block` events wait until
   * `release`. Blocks held already before `from` are dropped (the state installed covers them).
   */
  hold(from: number): void {
    this.held = (this.held ?? []).filter((block) => block.position >= from)
  }

  /** The state is installed (or no longer awaited): the held blocks' events, in order. */
  release(): void {
    const held = this.held
    this.held = undefined
    for (const block of held ?? []) this.emitBlock(block)
  }

  /** Block events wait (`hold`). */
  get holding(): boolean {
    return this.held !== undefined
  }

  private emitBlock(block: DeliveredBlock): void {
    this.reporter.emit('block', block)
    this.afterEmit?.(block)
  }

  observe(observer: JournalObserver): void {
    this.observer = observer
  }

  /**
   * Every block the engine agreed so far (delivered or about to be), from position 0: before the
   * first flush (none is dropped yet).
   */
  decidedBlocks(): readonly Block[] {
    if (this.decidedBase > 0) throw new SectionError('InvalidArgument', 'decided blocks were dropped')
    return this.decided
  }

  /**
   * The blocks a restored engine re-derived (before the first flush): from position 0 in epoch 0,
   * from the epoch's start in a later one (the earlier epochs' graphs are gone).
   */
  restoredBlocks(): { readonly first: number; readonly blocks: readonly Block[] } {
    return { first: this.decidedBase, blocks: this.decided }
  }

  /** The decided block at `position`, if it is kept (from `neededFrom` on, and those not delivered). */
  decidedBlock(position: number): Block | undefined {
    return position < this.decidedBase ? undefined : this.decided[position - this.decidedBase]
  }

  /** Delivered blocks from position `from` on (at most `limit`), of those kept (`retainedFrom` on). */
  blocks(from: number, limit: number): DeliveredBlock[] {
    const start = Math.max(this.deliveredBase, Math.floor(from) || 0) - this.deliveredBase
    return this.delivered.slice(start, start + Math.max(0, limit))
  }

  /** The next position to deliver (every block before it was delivered, kept or not). */
  get deliveredCount(): number {
    return this.deliveredBase + this.delivered.length
  }

  /** The first delivered block kept (0 unless retention dropped earlier ones). */
  get retainedFrom(): number {
    return this.deliveredBase
  }

  /** The delivered blocks kept: the last `retention` ones. */
  private trimDelivered(): void {
    if (this.retention === undefined) return
    const from = this.deliveredCount - this.retention
    if (from <= this.deliveredBase) return
    this.delivered.splice(0, from - this.deliveredBase)
    this.deliveredBase = from
  }

  /** The decided blocks kept: those not delivered yet, and those the observer may still ask for. */
  private trimDecided(): void {
    const from = Math.min(this.deliveredCount, this.observer?.neededFrom() ?? 0)
    if (from <= this.decidedBase) return
    this.decided.splice(0, from - this.decidedBase)
    this.decidedBase = from
  }

  /**
   * Takes an engine step's output for the next flush: its events to persist, its blocks to
   * deliver, its faults to report (each blamed on the offender the engine names; `from` is the
   * peer whose input it was). A step with an error has its faults reported by whoever handles the
   * error.
   * Returns whether any new event came from a peer (not just our own).
   */
  take(step: Step<unknown>, from?: PeerId, reportFaults = step.error === undefined): boolean {
    const us = this.lifecycle.engine?.ourId.name
    let news = false
    for (const event of step.events) {
      this.unpersistedEvents.push(packedEventBytes(event))
      if (event.creator.name !== us) news = true
    }
    for (const { block } of step.blocks) this.decide(block)
    if (reportFaults) this.reporter.engineFaults(step.faults, from)
    this.observer?.took(step)
    return news
  }

  /**
   * Persists every event and block produced so far (one batch, chained after earlier ones so
   * the store is always a prefix), then delivers the new blocks. Await it before sending.
   */
  flush(): Promise<void> {
    // Calls made while a flush waits its turn share it: it covers everything made before it runs.
    if (this.queuedFlush !== undefined) return this.queuedFlush
    const flush = this.flushing
      .then(() => {
        this.queuedFlush = undefined
        return this.flushNow()
      })
      .catch((error) => {
        throw this.lifecycle.failStore(error)
      })
    this.queuedFlush = flush
    this.flushing = flush.catch(() => {})
    return flush
  }

  /** Resolves once the flushes under way have ended (however they ended). */
  settled(): Promise<void> {
    return this.flushing.catch(() => {})
  }

  private async flushNow(): Promise<void> {
    // Once a write failed, nothing made after it may be sent: every later flush fails too.
    if (this.lifecycle.failure !== undefined) throw this.lifecycle.failure
    const engine = this.lifecycle.engine
    if (engine === undefined) return
    const firstEvent = this.persistedEvents
    const firstBlock = this.persistedBlocks
    const events = this.unpersistedEvents
    this.unpersistedEvents = []
    const endEvents = firstEvent + events.length
    const endBlocks = this.decidedBase + this.decided.length
    if (endEvents !== engine.graphSize) {
      // Every event comes out of a step we took: anything else would corrupt the store.
      throw new SectionError('StorageMismatch', `${engine.graphSize - endEvents} events of no step`)
    }
    if (this.storage !== undefined && (endEvents > firstEvent || endBlocks > firstBlock)) {
      const from = firstBlock - this.decidedBase
      const blocks = this.decided.slice(from, from + endBlocks - firstBlock).map((b) => encodeBlock(b))
      const retainFrom = this.retention === undefined ? undefined : endBlocks - this.retention
      await this.storage.append(events, firstEvent, blocks, firstBlock, retainFrom)
    }
    this.persistedEvents = endEvents
    this.persistedBlocks = endBlocks
    const fresh: DeliveredBlock[] = []
    for (let i = this.deliveredCount; i < endBlocks; i++) {
      const block = this.decided[i - this.decidedBase]
      const delivered = new Delivered(i, block)
      this.delivered.push(delivered)
      fresh.push(delivered)
      this.reporter.count('blocks')
      this.onDeliver?.(delivered)
      if (this.held !== undefined) this.held.push(delivered)
      else this.emitBlock(delivered)
    }
    this.observer?.flushed(fresh)
    this.trimDelivered()
    this.trimDecided()
  }
}
