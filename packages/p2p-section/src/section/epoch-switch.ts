/**
 * The epoch switch of the service (docs/epochs.md §2, §5). When our membership machine folds the
 * checkpoint that ends our epoch (its `newEpoch` directive), the engine is retired at once (it
 * makes no more events; it serves members that have not switched yet, `Epochs.previous`), then,
 * in order: the old engine's last events are persisted, the epoch record is written (before any
 * event of the new engine: a crash before it leaves the old epoch only, and the restarted peer
 * switches again from its delivered blocks), the new engine starts from the epoch's voters with
 * the checkpoint as its genesis related info, and what the old one had not delivered is voted
 * again in it: our application's payloads (`OwnVotes`) and the machine's re-cast membership votes.
 * Meanwhile requests are answered `not-ready` and votes wait. The retired engine is dropped, and
 * its events deleted from the store, after `drainMs`.
 */
import type { Logger } from '@libp2p/interface'
import { type ChainEntry, type EpochStart, encodeChain } from '@parsec-section/membership'
import {
  type Block,
  type ConsensusMode,
  decodeObservation,
  ed25519Scheme,
  type Observation,
  opaque,
  Parsec,
  type PublicId,
  type SecretId,
} from '@parsec-section/parsec-core'
import type { SectionStorage, StoredMissed } from '../storage.js'
import type { ClaimedFrontiers } from './claimed-frontiers.js'
import type { Epochs } from './epochs.js'
import type { Journal } from './journal.js'
import type { Lifecycle } from './lifecycle.js'
import type { MissedPayloads } from './missed-payloads.js'
import type { OwnVotes } from './own-votes.js'

/** Election indices of epoch e start at e × this (an epoch decides far fewer). */
const ELECTIONS_PER_EPOCH = 1_000_000_000

/** What the machine's `newEpoch` and `rebase` directives say (membership's `EpochStart`). */
export type { EpochStart } from '@parsec-section/membership'

export interface EpochSwitchParts {
  readonly lifecycle: Lifecycle
  readonly journal: Journal
  readonly epochs: Epochs
  readonly claims: ClaimedFrontiers
  readonly storage: SectionStorage | undefined
  readonly ownVotes: OwnVotes
  readonly secret: () => SecretId
  readonly consensusMode: () => ConsensusMode
  /** An engine id as the service counts its verifications. */
  readonly wrap: (id: PublicId) => PublicId
  /** The membership chain up to the checkpoint (stored with the epoch: a restart resumes from it). */
  readonly chain: () => readonly ChainEntry[]
  /** Gossip again (the new engine has its first events). */
  readonly nudge: () => void
  /**
   * A rebase: we deliver from `next.start` with nothing before it (the snapshot hook installs the
   * application's state first). Called before the new engine's first flush.
   */
  readonly startedAt?: (next: EpochStart) => void
  /**
   * A switch (our engine crossed a checkpoint): a newcomer still fetching the application's state
   * aims at this checkpoint instead (the members may drop the older one). Called before the new
   * engine's first flush.
   */
  readonly crossed?: (next: EpochStart) => void
  /**
   * A rebase's payloads of ours not delivered (set aside in `ownVotes`): they were decided in the
   * blocks we missed or never will be; `missed` finds out and votes again those that were not.
   */
  readonly missed?: Pick<MissedPayloads, 'keptWith' | 'begin'>
  /** The agreed checkpoint block at `position`, from the membership chain (with its proofs). */
  readonly checkpointBlock?: (position: number) => Block | undefined
}

/** The checkpoint block agreed at `position`, as the membership chain holds it (with its proofs). */
export function checkpointBlockOf(chain: readonly ChainEntry[], position: number): Block | undefined {
  for (let i = chain.length - 1; i >= 0; i--) {
    const entry = chain[i]
    if (entry.position < position) return undefined
    if (entry.position !== position || entry.change.kind !== 'checkpoint') continue
    try {
      return { payload: decodeObservation(entry.observation, ed25519Scheme), proofs: entry.proofs }
    } catch {
      return undefined
    }
  }
  return undefined
}

export class EpochSwitch {
  private running: Promise<void> | undefined
  /** Callers waiting for the next switch to end (`nextSwitch`). */
  private waiters: (() => void)[] = []
  /** A rebase the machine asked for while a switch ran. */
  private pendingRebase: { next: EpochStart; section?: readonly PublicId[] } | undefined
  private queued: Observation[] = []
  private dropTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly parts: EpochSwitchParts,
    /** How long the retired engine serves members that have not switched (ms). */
    private readonly drainMs: number,
    private readonly log: Logger,
  ) {}

  /** A switch is under way: requests are answered `not-ready`, votes wait for the new engine. */
  get active(): boolean {
    return this.running !== undefined
  }

  /** Resolves once no switch is under way. */
  async settled(): Promise<void> {
    await this.running?.catch(() => {})
  }

  /** Election indices of the current epoch are offset by this (unique across epochs). */
  get electionBase(): number {
    return this.parts.epochs.current * ELECTIONS_PER_EPOCH
  }

  /** Resolves when the next switch (or rebase) ends, or after `timeoutMs`, or at `stop()`. */
  nextSwitch(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.waiters = this.waiters.filter((w) => w !== done)
        resolve()
      }
      const timer = setTimeout(done, timeoutMs)
      timer.unref?.()
      this.waiters.push(done)
    })
  }

  /** A vote made while the engine switches: cast in the new engine. */
  queue(vote: Observation): void {
    this.queued.push(vote)
  }

  /**
   * `newEpoch`: the switch to `next`; `votes` (the machine's re-cast) go to the new engine. A
   * joiner whose replay crossed the checkpoint gives `section`: its engine is an observer again,
   * built with the members it is admitted into.
   */
  begin(next: EpochStart, votes: readonly Observation[], section?: readonly PublicId[]): void {
    const { lifecycle, epochs } = this.parts
    const old = lifecycle.engine
    if (old === undefined || next.epoch !== epochs.current + 1 || this.running !== undefined) {
      this.log.error(
        'epoch %d at %d: not the next epoch (we are in %d)',
        next.epoch,
        next.start,
        epochs.current,
      )
      return
    }
    this.queued.push(...votes)
    this.start(old, () => this.run(old, next, section))
  }

  /**
   * We lagged by whole epochs (the machine's `rebase`): the old engine and its blocks go, our
   * engine starts in the section's current epoch, and we deliver from its start. Our payloads not
   * delivered are set aside (the others may have decided them in the epochs we missed): `missed`
   * finds out which to vote again.
   */
  rebase(next: EpochStart, section?: readonly PublicId[]): void {
    const { lifecycle, epochs } = this.parts
    if (this.running !== undefined) {
      // Our machine moved on already (the engine we are building is epochs behind too): once this
      // switch is done, the later start.
      if (this.pendingRebase === undefined || next.epoch > this.pendingRebase.next.epoch)
        this.pendingRebase = { next, ...(section === undefined ? {} : { section }) }
      return
    }
    const old = lifecycle.engine
    if (old === undefined || next.epoch <= epochs.current) return
    this.start(old, () => this.runRebase(old, next, section))
  }

  /** Retires `old` at once and runs the rest of the switch (a failure fails the service). */
  private start(old: Parsec, rest: () => Promise<void>): void {
    old.retire()
    this.running = rest()
      .catch((error) => {
        // A failed write fails the service (the journal reports it); anything else too.
        this.parts.lifecycle.failStore(error)
      })
      .finally(() => {
        this.running = undefined
        for (const done of [...this.waiters]) done()
        const pending = this.pendingRebase
        this.pendingRebase = undefined
        if (pending !== undefined) this.rebase(pending.next, pending.section)
      })
  }

  private async run(old: Parsec, next: EpochStart, section?: readonly PublicId[]): Promise<void> {
    const { epochs } = this.parts
    const previous = epochs.current
    const engine = await this.replace(old, next, section)
    epochs.previous = { epoch: previous, engine: old, since: Date.now() }
    const open = await this.startEngine(engine, next)
    this.log('epoch %d from block %d: %d payloads voted again', next.epoch, next.start, open)
    this.scheduleDrop(previous)
    this.parts.nudge()
  }

  private async runRebase(old: Parsec, next: EpochStart, section?: readonly PublicId[]): Promise<void> {
    const { journal, storage } = this.parts
    const from = this.parts.epochs.current
    const checkpoint = next.start - 1
    if (
      next.epoch === from + 1 &&
      journal.deliveredCount === checkpoint &&
      journal.decidedCount === checkpoint
    ) {
      const block = this.parts.checkpointBlock?.(checkpoint)
      if (block !== undefined) return this.runLate(old, next, block, section)
    }
    const missedFrom = journal.deliveredCount
    const open = this.parts.ownVotes.setAside()
    const missed = { from: missedFrom, to: next.start, payloads: open }
    // Stored with the epoch record: a restart in the new epoch asks again (its engine holds no vote
    // of them); one before it finds the old epoch and its votes.
    const kept = open.length > 0 ? this.parts.missed?.keptWith(missed) : undefined
    const engine = await this.replace(old, next, section, () => storage?.dropBlocksBelow(next.start), kept)
    journal.rebase(next.epoch, next.start)
    this.parts.startedAt?.(next)
    journal.take(engine.begin())
    await journal.flush()
    storage?.dropEvents(from).catch((error) => this.log.error('dropping epoch %d failed: %e', from, error))
    this.log(
      'we lagged from epoch %d to %d: starting again at block %d (%d payloads of ours not delivered: asking the members which of blocks %d to %d hold them)',
      from,
      next.epoch,
      next.start,
      open.length,
      missedFrom,
      next.start,
    )
    if (open.length > 0) this.parts.missed?.begin(missed)
    this.parts.nudge()
  }

  /**
   * A rebase one block late: we delivered every block of our epoch but its checkpoint, which the
   * others decided before dropping the epoch. Then nothing is missing but that block, which the
   * membership chain holds with its proofs: it is delivered from there and the switch runs as a
   * switch does (our blocks kept, our payloads not delivered voted again: the old epoch's
   * decisions after its checkpoint are dropped), with no gap, no state to fetch, nobody to ask.
   */
  private async runLate(
    old: Parsec,
    next: EpochStart,
    block: Block,
    section?: readonly PublicId[],
  ): Promise<void> {
    const { journal, storage, epochs } = this.parts
    const from = epochs.current
    const engine = await this.replace(old, next, section)
    journal.adoptCheckpoint(block, next.start - 1)
    const open = await this.startEngine(engine, next)
    storage?.dropEvents(from).catch((error) => this.log.error('dropping epoch %d failed: %e', from, error))
    this.log(
      'epoch %d from block %d, one block late (its checkpoint from the membership chain): %d payloads voted again',
      next.epoch,
      next.start,
      open,
    )
    this.parts.nudge()
  }

  /**
   * The new engine runs epoch `next`: its first events, then what the old one had not delivered
   * (our payloads, in the order voted, and the votes queued meanwhile), all flushed. Returns how
   * many of our payloads were voted again.
   */
  private async startEngine(engine: Parsec, next: EpochStart): Promise<number> {
    const { journal } = this.parts
    journal.startEpoch(next.epoch, next.start)
    this.parts.crossed?.(next)
    journal.take(engine.begin())
    const open = this.parts.ownVotes.open()
    for (const payload of open) this.cast(engine, opaque(payload))
    for (const vote of this.queued.splice(0)) this.cast(engine, vote)
    await journal.flush()
    return open.length
  }

  /**
   * What both switches do: an older retired engine still draining goes (only the last epoch is
   * served), the old engine's last events are persisted (its epoch's list), the epoch's record is
   * written (before any event of the new engine), then the new engine is built and runs.
   */
  private async replace(
    old: Parsec,
    next: EpochStart,
    section: readonly PublicId[] | undefined,
    beforeEngine?: () => Promise<void> | undefined,
    missed?: readonly StoredMissed[],
  ): Promise<Parsec> {
    const { lifecycle, journal, epochs, storage } = this.parts
    this.drop()
    await journal.flush()
    await storage?.saveEpoch(
      {
        epoch: next.epoch,
        start: next.start,
        eventsBefore: epochs.eventsBefore + old.graphSize,
        genesis: next.genesis.map((id) => id.encoded),
        relatedInfo: next.relatedInfo,
        chain: encodeChain(this.parts.chain()),
      },
      missed,
    )
    await beforeEngine?.()
    const engine = Parsec.restoring({
      us: this.parts.secret(),
      genesis: next.genesis.map(this.parts.wrap),
      relatedInfo: next.relatedInfo,
      consensusMode: this.parts.consensusMode(),
      ...(section === undefined ? {} : { section: section.map(this.parts.wrap) }),
    }).finish()
    epochs.eventsBefore += old.graphSize
    epochs.receivedBefore += old.eventsReceived
    epochs.duplicatesBefore += old.duplicateEventsReceived
    epochs.requestEventsBefore += old.eventsReceivedInRequests
    epochs.requestDuplicatesBefore += old.duplicateEventsReceivedInRequests
    lifecycle.engine = engine
    epochs.current = next.epoch
    // What partners held of the old graph says nothing of the new one.
    this.parts.claims.clear()
    return engine
  }

  private cast(engine: Parsec, vote: Observation): void {
    if (engine.haveVotedFor(vote)) return
    try {
      this.parts.journal.take(engine.voteFor(vote))
    } catch (error) {
      this.log('vote refused by the new engine: %s', (error as Error).message)
    }
  }

  /** After the drain window, the retired engine goes, and its events leave the store. */
  private scheduleDrop(epoch: number): void {
    clearTimeout(this.dropTimer)
    this.dropTimer = setTimeout(() => {
      this.dropTimer = undefined
      if (this.parts.epochs.previous?.epoch === epoch) this.drop()
    }, this.drainMs)
    this.dropTimer.unref?.()
  }

  /** The retired engine goes from memory, its events from the store. */
  private drop(): void {
    clearTimeout(this.dropTimer)
    this.dropTimer = undefined
    const { epochs, storage } = this.parts
    const previous = epochs.previous
    if (previous === undefined) return
    epochs.previous = undefined
    storage
      ?.dropEvents(previous.epoch)
      .catch((error) => this.log.error('dropping epoch %d failed: %e', previous.epoch, error))
  }

  stop(): void {
    clearTimeout(this.dropTimer)
    this.dropTimer = undefined
    for (const done of [...this.waiters]) done()
  }
}
