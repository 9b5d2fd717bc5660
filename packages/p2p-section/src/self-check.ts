/**
 * The start-up self-check: before a peer makes its first event after a start, it asks the other
 * members for the latest event of ours they hold. If any holds a later one (or another event at a
 * position we hold), our store is behind what we once sent (a restored backup, writes lost in a
 * crash, a wrong or missing data directory) or another process runs with our key: making an event
 * now would fork us, and honest peers would accuse us and expel us for good. Then we make none.
 *
 * It waits until more than a third of the other members answered (at least one honest member among
 * them, which holds every event of ours that reached an honest peer... once gossip spread it) or
 * the timeout passed: with no answer at all it goes on with a warning, since a whole section
 * restarting after a power cut must be able to start. A member that answers we are no longer one
 * (our removal agreed while we were down) is not asked again: `refused` names it, for our
 * membership machine to confirm the removal from the chain.
 */
import type { PeerId } from '@libp2p/interface'
import type { LatestEvent, PublicId } from '@parsec-section/parsec-core'
import { equals } from 'uint8arrays'
import type { PeerStatus } from './catchup.js'
import { isSectionError, OtherEpochError, SectionError } from './errors.js'
import { pause } from './scheduler.js'

export interface SelfCheckMember {
  readonly peerId: PeerId
  readonly publicId: PublicId
}

export interface SelfCheckOptions {
  /** The other members (not us). */
  readonly others: readonly SelfCheckMember[]
  /** Asks one member; throws when it cannot be reached. */
  readonly ask: (peer: PeerId) => Promise<PeerStatus>
  /** Our latest event, from our store (undefined: none). */
  readonly ourLatest: LatestEvent | undefined
  /** Our event at a chain position, from our store. */
  readonly ourEventAt: (index: number) => LatestEvent | undefined
  readonly timeoutMs: number
  readonly retryMs: number
  readonly signal: AbortSignal
  readonly onUnreachable?: (peer: PeerId, error: unknown) => void
  /** Our epoch (a member in a later one that no longer holds ours is `ahead`). */
  readonly epoch?: number
}

export interface SelfCheckAnswer extends SelfCheckMember {
  readonly status: PeerStatus
}

export interface SelfCheckResult {
  readonly answers: readonly SelfCheckAnswer[]
  /** Members that answered we are no longer a member (`NotAMember`). */
  readonly refused: readonly SelfCheckMember[]
  /** Members in a later epoch that hold no graph of ours (`OtherEpoch`): we may lag by epochs. */
  readonly ahead: readonly (SelfCheckMember & { readonly epoch: number })[]
  /** Answers needed: more than a third of the other members. */
  readonly needed: number
  readonly timedOut: boolean
}

/** Throws `SelfCheckFailed` when `status` shows an event of ours our store does not hold. */
export function judge(
  member: PeerId,
  status: PeerStatus,
  ourLatest: LatestEvent | undefined,
  ourEventAt: (index: number) => LatestEvent | undefined,
): void {
  const theirs = status.ourLatest
  if (theirs === undefined) return
  const ours = ourEventAt(theirs.index)
  const ahead = ourLatest === undefined || theirs.index > ourLatest.index
  if (!ahead && ours !== undefined && equals(ours.hash, theirs.hash)) return
  const what = ahead
    ? `event #${theirs.index} of ours, later than our store's ${ourLatest === undefined ? 'none' : `#${ourLatest.index}`}`
    : `another event #${theirs.index} of ours than our store's`
  throw new SectionError(
    'SelfCheckFailed',
    `member ${member.toString()} holds ${what}: this data directory is behind this key's last run ` +
      '(a restored backup, writes lost in a crash, a wrong or missing --data-dir) or another process ' +
      'runs with this key. Making an event now would fork us and get us expelled, so none was made. ' +
      'Start with the right data directory (or stop the other process); a member whose store is lost ' +
      'can only leave and join the section again under a new key (once membership lands).',
  )
}

export async function runSelfCheck(options: SelfCheckOptions): Promise<SelfCheckResult> {
  const { others, signal } = options
  const needed = others.length === 0 ? 0 : Math.floor(others.length / 3) + 1
  const answers = new Map<string, SelfCheckAnswer>()
  const refused = new Map<string, SelfCheckMember>()
  const ahead = new Map<string, SelfCheckMember & { readonly epoch: number }>()
  const deadline = Date.now() + options.timeoutMs
  const pending = () =>
    others.filter((m) => {
      const key = m.peerId.toString()
      return !answers.has(key) && !refused.has(key) && !ahead.has(key)
    })
  while (answers.size < needed && pending().length > 0 && Date.now() < deadline && !signal.aborted) {
    const failures: SectionError[] = []
    await Promise.all(
      pending().map(async (member) => {
        let status: PeerStatus
        try {
          status = await options.ask(member.peerId)
        } catch (error) {
          if (isSectionError(error) && error.code === 'NotAMember')
            refused.set(member.peerId.toString(), member)
          else if (error instanceof OtherEpochError) {
            // Its graphs are of later epochs: nothing of ours to compare (our events there are none).
            if (error.epoch > (options.epoch ?? 0))
              ahead.set(member.peerId.toString(), { ...member, epoch: error.epoch })
            else options.onUnreachable?.(member.peerId, error)
          } else options.onUnreachable?.(member.peerId, error)
          return
        }
        try {
          judge(member.peerId, status, options.ourLatest, options.ourEventAt)
        } catch (error) {
          failures.push(error as SectionError)
          return
        }
        answers.set(member.peerId.toString(), { ...member, status })
      }),
    )
    if (failures.length > 0) throw failures[0]
    if (answers.size >= needed || pending().length === 0) break
    const wait = Math.min(options.retryMs, deadline - Date.now())
    if (wait > 0) await pause(wait, signal)
  }
  return {
    answers: [...answers.values()],
    refused: [...refused.values()],
    ahead: [...ahead.values()],
    needed,
    timedOut: answers.size < needed && pending().length > 0,
  }
}
