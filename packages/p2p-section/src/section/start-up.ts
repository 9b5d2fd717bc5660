/**
 * What a started service does once libp2p listens and dials, before its first event: the
 * self-check (does the section hold an event of ours our store does not? then making one would
 * fork us), a catch-up from the member that holds the most, then our first event; then gossip
 * begins and `ready()` resolves, and the members that did not answer get one sync each (one that
 * removed us while we were away refuses it, and our removal is then confirmed: `self:removed`).
 */
import type { Logger } from '@libp2p/interface'
import type { PublicId } from '@parsec-section/parsec-core'
import type { CatchUp } from '../catchup.js'
import { isSectionError, SectionError } from '../errors.js'
import { runSelfCheck } from '../self-check.js'
import type { Journal } from './journal.js'
import type { Lifecycle } from './lifecycle.js'
import type { Outbound } from './outbound.js'
import type { Pacing } from './pacing.js'
import type { Puller } from './puller.js'
import type { Reporter } from './reporter.js'
import type { Roster } from './roster.js'

export interface StartUpParts {
  readonly lifecycle: Lifecycle
  readonly roster: Roster
  readonly journal: Journal
  readonly reporter: Reporter
  readonly pacing: Pacing
  readonly puller: Puller
  readonly catchUp: CatchUp
  readonly outbound: Pick<Outbound, 'greet'>
  /** Our removal is agreed in our own blocks (we drain again, then fail): no start-up at all. */
  readonly removed: () => boolean
  /** A member answered we are no longer one of its members (membership confirms it). */
  readonly notMemberOf: (member: PublicId) => void
  /** A member is epochs ahead and holds no graph of ours (membership checks its chain: `rebase`). */
  readonly aheadEpoch: (member: PublicId, epoch: number) => void
  /** Our epoch. */
  readonly epoch: () => number
}

export interface SelfCheckTimes {
  /** See `constants.SELF_CHECK_TIMEOUT_MS`. */
  readonly timeoutMs: number
  readonly retryMs: number
}

export class StartUp {
  private controller: AbortController | undefined

  constructor(
    private readonly parts: StartUpParts,
    private readonly selfCheck: SelfCheckTimes,
    private readonly log: Logger,
  ) {}

  /** Runs the start-up in the background, once per service (libp2p's `afterStart`). */
  afterStart(): void {
    const { lifecycle } = this.parts
    if (!lifecycle.started || this.controller !== undefined) return
    const controller = new AbortController()
    this.controller = controller
    this.run(controller.signal).catch((error) => {
      if (!lifecycle.started) return
      lifecycle.fail(
        isSectionError(error)
          ? error
          : new SectionError('StorageMismatch', `start-up failed: ${(error as Error).message}`),
      )
    })
  }

  /** Abandons a start-up under way (libp2p's `beforeStop`). */
  beforeStop(): void {
    this.controller?.abort()
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { lifecycle, roster, journal, reporter, pacing, puller, catchUp, outbound } = this.parts
    const engine = lifecycle.requireEngine()
    if (this.parts.removed()) {
      // Making an event, or saying we are ready, would pretend we are a member.
      this.log('our removal is agreed: no self-check and no event; draining again')
      return
    }
    const us = engine.ourId
    const others = roster.others()
    const check = await runSelfCheck({
      others,
      ask: (peer) => catchUp.status(peer),
      ourLatest: engine.latestEventOf(us),
      ourEventAt: (index) => engine.ourEventAt(index),
      timeoutMs: this.selfCheck.timeoutMs,
      retryMs: this.selfCheck.retryMs,
      signal,
      onUnreachable: (peer, error) => this.log('self-check: %p not reached yet: %e', peer, error),
      epoch: this.parts.epoch(),
    })
    if (signal.aborted) return
    // Removed while we were down: the machine asks those members for their chain and drains.
    for (const member of check.refused) this.parts.notMemberOf(member.publicId)
    // Epochs ahead of us: we rebase once one's chain proves it (we make our first event meanwhile:
    // it is of our old epoch, which nobody holds any more, so it forks nothing).
    for (const member of check.ahead) this.parts.aheadEpoch(member.publicId, member.epoch)
    if (check.answers.length === 0 && check.refused.length === 0 && check.needed > 0) {
      this.log.error('self-check: no member answered; going on (the whole section may be restarting)')
      reporter.emit('selfcheck:unanswered', { asked: others.length, answered: 0 })
    }
    lifecycle.state = 'catching-up'
    // From the member that holds the most, what we lack (nothing much after a short absence).
    const sources = [...check.answers].sort((a, b) => b.status.graphSize - a.status.graphSize)
    for (const source of sources) {
      if (source.status.graphSize <= engine.graphSize || signal.aborted) break
      if (await puller.pull(source.peerId, source.publicId)) break
    }
    if (signal.aborted || lifecycle.failure !== undefined) return
    journal.take(engine.begin())
    await journal.flush()
    if (signal.aborted || lifecycle.failure !== undefined) return
    lifecycle.state = 'running'
    pacing.start()
    lifecycle.resolveReady()
    // Those that did not answer: down, or refusing us (they removed us while we were away). One
    // sync each tells which (a refusal leads the membership machine to check our removal).
    const answered = new Set(check.answers.map((a) => a.peerId.toString()))
    outbound.greet(others.filter((m) => !answered.has(m.peerId.toString())).map((m) => m.peerId))
  }
}
