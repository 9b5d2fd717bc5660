/**
 * The membership changes `parsec-peer demo` is asked for (`--join J`, `--leave L`, `--kill K`), as an ordered
 * list of requested changes, checked up front against the liveness rules of MEMBERSHIP.md §1 (the
 * budget rule): a combination the section could not carry out is a `UsageError` (exit 2).
 *
 * The demo makes the changes one after another, each once the previous one happened (or was
 * refused or deferred), so each is judged at the size the previous ones left:
 * - a kill (a silent member, removed by the others) needs `3(N−1) > 2N`, i.e. N ≥ 4 members when
 *   it happens: the others must stay more than 2/3 of the voters. A section of 3 can only shrink by
 *   a graceful leave.
 * - a graceful leave needs N ≥ 2 (the leaver stays responsive while it drains; the last member
 *   cannot leave).
 * - a join needs nothing of the section's size (a section of one admits a joiner).
 * Joins therefore go first, so that kills and leaves find the most members; then kills, while the
 * section is largest, then leaves. The joiners are new local peers, numbered after the founders.
 */
import { UsageError } from './args.js'

export type ChangeKind = 'join' | 'kill' | 'leave'

export interface PlannedChange {
  readonly kind: ChangeKind
  /** The local peer (index) the change is about. */
  readonly peer: number
  /** Members before the change happens (as planned: every earlier change happened). */
  readonly membersBefore: number
}

export interface ChangeRequest {
  readonly peers: number
  /** Joiners, started after the founders (default 0). */
  readonly join?: number
  readonly leave: number
  readonly kill: number
}

/** Members a kill needs when it happens: the others, more than 2/3 of the voters, remove it. */
export const MIN_MEMBERS_FOR_KILL = 4
/** Members a graceful leave needs: the last member cannot leave. */
export const MIN_MEMBERS_FOR_LEAVE = 2

/**
 * The changes in the order the demo makes them: joins (peers N, N+1, ...), then kills on the highest
 * peer indices, then leaves on the ones below (peer 0 always stays). Throws a `UsageError` naming
 * the flags when impossible.
 */
export function planChanges(request: ChangeRequest): PlannedChange[] {
  const { leave, kill } = request
  const join = request.join ?? 0
  // Every join happens first: kills and leaves are judged at the size the joins make.
  const peers = request.peers + join
  const given = `--peers ${request.peers}${join > 0 ? ` and --join ${join}` : ''}`
  if (kill > 0 && peers - kill + 1 < MIN_MEMBERS_FOR_KILL) {
    const possible = Math.max(0, peers - MIN_MEMBERS_FOR_KILL + 1)
    throw new UsageError(
      `--kill ${kill} with ${given}: a killed member is removed only while the others stay ` +
        `more than 2/3 of the voters, so each kill needs at least ${MIN_MEMBERS_FOR_KILL} members when it ` +
        `happens (a section of 3 shrinks only by a graceful leave); at most --kill ${possible} here`,
    )
  }
  if (leave > 0 && peers - kill - leave + 1 < MIN_MEMBERS_FOR_LEAVE) {
    const possible = Math.max(0, peers - kill - 1)
    throw new UsageError(
      `--leave ${leave} with ${given}${kill > 0 ? ` and --kill ${kill}` : ''}: the last member ` +
        `cannot leave; at most --leave ${possible} here`,
    )
  }
  const changes: PlannedChange[] = []
  let members = request.peers
  for (let i = 0; i < join; i++)
    changes.push({ kind: 'join', peer: request.peers + i, membersBefore: members++ })
  let next = peers - 1
  for (let i = 0; i < kill; i++) changes.push({ kind: 'kill', peer: next--, membersBefore: members-- })
  for (let i = 0; i < leave; i++) changes.push({ kind: 'leave', peer: next--, membersBefore: members-- })
  return changes
}
