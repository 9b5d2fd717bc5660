/**
 * Our payloads a rebase left undecided for us (docs/epochs.md §4). A member that lagged by whole
 * epochs starts again at the section's last checkpoint and never sees the blocks it missed, [D, S):
 * each payload `vote()` accepted and not delivered to it was decided there, or never will be (an
 * old epoch's decisions after its checkpoint are dropped). The members are asked which
 * (`DecidedLookup`); those decided are settled, the others voted again in the order voted, so every
 * payload becomes a block exactly once. Only if too few members still keep those blocks (block
 * retention) is a payload's fate unknown: it is logged, not voted again (it may be a block already).
 * What is set aside is stored (with the rebase's epoch record, then until settled), so a restart
 * meanwhile asks again; voting again skips what our engine already holds a vote of or delivered.
 *
 * The members' side too: which of a requester's payloads its delivered blocks hold.
 */
import type { Logger, PeerId } from '@libp2p/interface'
import type { DecidedPayload, DecidedReport, DecidedServerHost } from '../decided.js'
import { publicIdFromPeerId } from '../identity.js'
import type { SectionStorage, StoredMissed } from '../storage.js'
import type { DecidedLookup } from './decided-lookup.js'
import type { Journal } from './journal.js'
import { keyOfDigest, type OwnVotes, payloadDigest, payloadKey } from './own-votes.js'
import type { Roster } from './roster.js'

export interface MissedPayloadsParts {
  readonly journal: Pick<Journal, 'blocks' | 'retainedFrom' | 'deliveredCount'>
  readonly roster: Pick<Roster, 'memberOf'>
  readonly ownVotes: Pick<OwnVotes, 'settle' | 'putAside' | 'isOpen'>
  readonly storage: Pick<SectionStorage, 'saveMissed'> | undefined
  /** Votes a payload again (the service's vote path: it waits for a switch, marks it open). */
  readonly vote: (payload: Uint8Array) => Promise<void>
  /** Payloads set aside were settled (a transaction batch held back by them may go). */
  readonly settled?: () => void
  /** The current epoch's voters: those asked (`us` among them counts in n, and is not asked). */
  readonly voters: () => readonly PeerId[]
  readonly us: PeerId
}

export class MissedPayloads implements DecidedServerHost {
  private controller = new AbortController()
  /** What rebases set aside and is not settled yet, as stored. */
  private kept: StoredMissed[] = []

  constructor(
    private readonly parts: MissedPayloadsParts,
    private readonly lookup: Pick<DecidedLookup, 'run'>,
    private readonly log: Logger,
  ) {}

  /** What to store with a rebase that sets `missed` aside: it, and what is not settled yet. */
  keptWith(missed: StoredMissed): StoredMissed[] {
    return [...this.kept, missed]
  }

  /** A rebase set `missed.payloads` aside (stored with it): find out which blocks [from, to) hold. */
  begin(missed: StoredMissed): void {
    this.kept.push(missed)
    this.run(missed)
  }

  /**
   * At a restart: what was stored as set aside and not settled. Set aside again at once; asked
   * about once `ready` resolves (the members are reached).
   */
  resume(kept: readonly StoredMissed[], ready: Promise<void>): void {
    for (const missed of kept) {
      this.parts.ownVotes.putAside(missed.payloads)
      this.kept.push(missed)
    }
    ready.then(
      () => {
        for (const missed of kept) this.run(missed)
      },
      () => {},
    )
  }

  private run(missed: StoredMissed): void {
    this.settle(missed).catch((error) =>
      this.log.error('our payloads missed in blocks %d to %d: %e', missed.from, missed.to, error),
    )
  }

  private async settle(missed: StoredMissed): Promise<void> {
    const { signal } = this.controller
    const { from, to, payloads } = missed
    // The block before the epoch's start is its checkpoint: no payload is there (a member that
    // missed only it, the usual rebase of one a little behind at a switch, asks nobody).
    const result = await this.lookup.run(
      payloads.map(payloadDigest),
      from,
      Math.max(from, to - 1),
      this.parts.voters(),
      this.parts.us,
      signal,
    )
    // Stopped: still stored, asked again at the next start.
    if (result === undefined) return
    // A restart after some were voted again: those our engine holds a vote of, or delivered.
    const since = this.ourPayloadsFrom(to)
    let again = 0
    for (const payload of payloads) {
      const key = payloadKey(payload)
      this.parts.ownVotes.settle(payload)
      if (result.decided.has(key) || result.unknown.has(key)) continue
      if (this.parts.ownVotes.isOpen(payload) || since.has(key)) continue
      if (signal.aborted) return
      try {
        await this.parts.vote(payload)
        again++
      } catch (error) {
        if (signal.aborted) return
        this.log.error('voting a payload of ours again failed: %e', error)
      }
    }
    this.kept = this.kept.filter((m) => m !== missed)
    await this.parts.storage?.saveMissed(this.kept)
    this.parts.settled?.()
    this.log(
      'our %d payloads missed in blocks %d to %d: %d decided there, %d voted again, %d of unknown fate',
      payloads.length,
      from,
      to,
      result.decided.size,
      again,
      result.unknown.size,
    )
    if (result.unknown.size > 0) {
      this.log.error(
        '%d payloads of ours may or may not be blocks in %d to %d: too few members keep those blocks (block retention)',
        result.unknown.size,
        from,
        to,
      )
    }
  }

  /** The keys of our payloads delivered from `position` on (of the blocks kept). */
  private ourPayloadsFrom(position: number): Set<string> {
    const name = publicIdFromPeerId(this.parts.us).name
    const keys = new Set<string>()
    for (const { block } of this.parts.journal.blocks(position, Number.POSITIVE_INFINITY)) {
      if (block.payload.kind === 'opaque' && block.proofs.some((p) => p.publicId.name === name))
        keys.add(payloadKey(block.payload.payload))
    }
    return keys
  }

  /** A member's answer: which of `keys` its delivered blocks in [from, to) hold with `requester`'s vote. */
  answer(
    requester: PeerId,
    from: number,
    to: number,
    keys: readonly Uint8Array[],
  ): DecidedReport | undefined {
    const member = this.parts.roster.memberOf(requester)
    if (member === undefined) return undefined
    const { journal } = this.parts
    if (from < journal.retainedFrom) return { status: 'not-retained', retainedFrom: journal.retainedFrom }
    if (to > journal.deliveredCount) return { status: 'not-ready' }
    const wanted = new Map(keys.map((key) => [keyOfDigest(key), key]))
    const name = member.publicId.name
    const found: DecidedPayload[] = []
    for (const { position, block } of journal.blocks(from, to - from)) {
      if (block.payload.kind !== 'opaque') continue
      // An earlier epoch's block a format before 6 stored, restored: its proofs were not kept, so
      // whose vote it carries is not known here (saying "not decided" could make a second block).
      if (block.proofs.length === 0) return { status: 'not-retained', retainedFrom: position + 1 }
      if (!block.proofs.some((p) => p.publicId.name === name)) continue
      const key = wanted.get(payloadKey(block.payload.payload))
      if (key !== undefined) found.push({ key, position })
    }
    return { status: 'ok', found }
  }

  /** Lookups under way end (the service stops; what they set aside stays stored for the next start). */
  stop(): void {
    this.controller.abort()
    this.controller = new AbortController()
  }
}
