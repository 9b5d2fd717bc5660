/**
 * Paged catch-ups as the service runs them (the protocol is catchup.ts): one at a time, with
 * outbound gossip waiting meanwhile (every exchange would otherwise ask for what the pages bring),
 * progress reported after each page, and a failure sorted into faults and link errors.
 */
import type { Logger, PeerId } from '@libp2p/interface'
import { isParsecError, type PublicId } from '@parsec-section/parsec-core'
import type { CatchUp, PullProgress } from '../catchup.js'
import { OtherEpochError } from '../errors.js'
import { classify } from './failure.js'
import type { Lifecycle } from './lifecycle.js'
import type { Pacing } from './pacing.js'
import type { Reporter } from './reporter.js'

export class Puller {
  /** A paged catch-up under way (outbound gossip waits for it). */
  private active = false
  /** The catch-up under way or last finished. */
  last: PullProgress | undefined

  constructor(
    private readonly catchUp: CatchUp,
    private readonly lifecycle: Lifecycle,
    private readonly reporter: Reporter,
    private readonly pacing: Pacing,
    private readonly log: Logger,
    /**
     * The member holds no graph of our epoch and is in `epoch`, a later one (a joiner's replay
     * fell epochs behind: the machine asks it for its chain, which may show our Add agreed).
     */
    private readonly aheadEpoch: (member: PublicId, epoch: number) => void = () => {},
    private readonly epoch: () => number = () => 0,
  ) {}

  get pulling(): boolean {
    return this.active
  }

  /** Fetches what we lack from `peerId` in pages; false when it failed (reported). */
  async pull(peerId: PeerId, member: PublicId): Promise<boolean> {
    if (this.active) return false
    this.active = true
    try {
      this.last = await this.catchUp.pull(peerId, member, (progress) => {
        this.last = progress
        this.reporter.emit('catchup:progress', progress)
      })
      return true
    } catch (error) {
      if (!this.lifecycle.started) return false
      if (isParsecError(error) && error.code === 'UnknownOwnEvent') {
        this.lifecycle.failOnOwnEvent(peerId, error)
        return false
      }
      if (error instanceof OtherEpochError) {
        this.log('%p is in epoch %d, we are in %d', peerId, error.epoch, this.epoch())
        if (error.epoch > this.epoch()) this.aheadEpoch(member, error.epoch)
        return false
      }
      const failure = classify(error, undefined, undefined, false)
      if (failure.kind === 'protocol') this.reporter.protocolFault(peerId, failure)
      else if (failure.kind === 'transport')
        this.reporter.linkError(peerId, 'outbound', failure.code, `catch-up: ${failure.message}`)
      return false
    } finally {
      this.active = false
      this.pacing.nudge(true)
    }
  }

  /** Starts a paged catch-up from `peerId` in the background (a sync said we lack too much). */
  inBackground(peerId: PeerId, member: PublicId): void {
    if (this.active || this.lifecycle.state !== 'running') return
    this.pull(peerId, member).catch((error) => this.log.error('catch-up from %p failed: %e', peerId, error))
  }
}
