/**
 * Carries out the demo's planned membership changes (membership-plan.ts) on a local section, one
 * after another, and tracks each until it happened (every live member's `GET /status` `members`
 * reflects it) or was reported refused (`POST /leave` answered 409, with its reason) or deferred
 * (not agreed in time: the reason says how far it got). It also turns the peers' `member:joined` /
 * `member:left` / `member:banned` lines into one line per change, the first time a peer reports it.
 *
 * Before a change the demo stops voting at its peer and waits until the payloads voted there are
 * delivered by the others (`quiesce`): a payload a peer holds when it is killed, or after its
 * removal, might never be gossiped.
 *
 * A join starts the joiner's process (`start --join`, see `LocalSection.addJoiner`) and is done once
 * the joiner reports itself a member and every live member lists it. It is refused when the joiner
 * is rejected for a reason waiting cannot change (e.g. `Banned`, `InsufficientWork`) or its process
 * exits; rejections that ask it to wait (`YoungCap`, `TooSoon`, `TooManyCandidates`...) are shown
 * and waited out, up to the join's timeout (then deferred). A joiner that did not get in is stopped.
 */
import { ApiRequestError, eventOf, type LocalSection, type StatusJson } from './local-section.js'
import type { PlannedChange } from './membership-plan.js'

export type ChangeOutcome = 'pending' | 'requested' | 'done' | 'refused' | 'deferred'

export interface TrackedChange extends PlannedChange {
  readonly peerId: string
  outcome: ChangeOutcome
  /** Why it was refused or deferred (or a remark on a done change, e.g. a leaver's exit code). */
  reason?: string
  /** From the request to the change seen at every live member. */
  tookMs?: number
}

export interface ChangeHooks {
  /** Stops voting at `peer` and resolves once its payloads are delivered by the other live peers. */
  quiesce(peer: number): Promise<void>
  /** Votes at `peer` again (its change was refused). */
  resume(peer: number): void
  /** `peer` is leaving or dead: no more votes or block reads there. */
  departed(peer: number): void
  /** `peer` joined (a member at every live member): votes and block reads there too. */
  joined(peer: number): void
  /** A progress line (human output). */
  info(line: string): void
}

export interface ChangeTimers {
  /** How long a change may take from its request to being seen at every live member. */
  readonly agreeTimeoutMs: number
  /** How long a joiner may take from its start to being a member seen by every live member. */
  readonly joinTimeoutMs: number
  /** How long a leaver may take to exit after its removal (its drain, `--linger-ms`, included). */
  readonly exitTimeoutMs: number
  readonly pollMs: number
}

const DEFAULT_TIMERS: ChangeTimers = {
  agreeTimeoutMs: 60_000,
  joinTimeoutMs: 120_000,
  exitTimeoutMs: 30_000,
  pollMs: 200,
}

/** Rejections of a join that waiting does not change: the join is refused. */
const FINAL_REJECTIONS = new Set([
  'BadSignature',
  'InsufficientWork',
  'AlreadyMember',
  'Banned',
  'Resurrection',
  'NotAllowed',
  'BadInvitation',
  'InvitationQuota',
  'PolicyRejected',
])

interface MemberEvent {
  readonly event: string
  readonly peer?: string
  readonly position?: number
  readonly reason?: string
  readonly self?: string
}

export class MembershipChanges {
  readonly changes: TrackedChange[]
  /** Peers that left or were killed (by the demo). */
  readonly gone = new Set<number>()
  private readonly reported = new Set<string>()
  /** The leavers' exits (after their drain), awaited at the end of the run. */
  private readonly drains: Promise<void>[] = []
  private readonly names: Map<string, number>
  /** The rejections of each joiner's requests (by peer id), in the order reported. */
  private readonly rejections = new Map<string, string[]>()

  constructor(
    private readonly section: LocalSection,
    planned: readonly PlannedChange[],
    private readonly hooks: ChangeHooks,
    private readonly began: number,
    private readonly timers: ChangeTimers = DEFAULT_TIMERS,
  ) {
    this.changes = planned.map((change) => ({
      ...change,
      peerId: section.peers[change.peer].peerId,
      outcome: 'pending',
    }))
    this.names = new Map(section.peers.map((peer) => [peer.peerId, peer.index]))
  }

  /** `peer 3 (…last 6 characters of its id)`, or the id itself for a peer not of the section. */
  name(peerId: string): string {
    const index = this.names.get(peerId)
    return index === undefined ? peerId : `peer ${index} (…${peerId.slice(-6)})`
  }

  /** The peers still running as members (as far as the demo made changes). */
  live(): number[] {
    return this.section.peers
      .filter((peer) => !this.gone.has(peer.index) && peer.api !== undefined)
      .map((peer) => peer.index)
  }

  /** A stdout line of peer `index`: membership events become one line per change. */
  onLine(index: number, line: string): void {
    const parsed = eventOf(line)
    if (parsed === undefined) return
    const event = parsed as unknown as MemberEvent
    if (event.event === 'join:rejected') {
      this.onRejected(event)
      return
    }
    if (event.event === 'self') {
      this.hooks.info(`${this.clock()}  ${this.name(this.section.peers[index].peerId)}: ${event.self}`)
      return
    }
    if (!event.event.startsWith('member:')) return
    const key = `${event.event}/${event.peer}/${event.position}`
    if (this.reported.has(key)) return
    this.reported.add(key)
    const what = event.event.slice('member:'.length)
    const reason = event.reason === undefined ? '' : `${event.reason}, `
    this.hooks.info(
      `${this.clock()}  member ${what} ${this.name(event.peer ?? '?')} (${reason}block ${event.position}), first reported by peer ${index}`,
    )
  }

  /** A join request refused (reported by the joiner or a member): shown once per peer and reason. */
  private onRejected(event: MemberEvent): void {
    if (event.peer === undefined || event.reason === undefined) return
    const list = this.rejections.get(event.peer) ?? []
    if (!list.includes(event.reason)) {
      this.hooks.info(`${this.clock()}  join of ${this.name(event.peer)} rejected: ${event.reason}`)
    }
    list.push(event.reason)
    this.rejections.set(event.peer, list)
  }

  /**
   * Makes every change in turn (once `ready` resolves); resolves when each is done, refused or
   * deferred, and the leavers have exited.
   */
  async run(ready: () => Promise<void> = async () => {}): Promise<void> {
    await ready()
    let deferred: TrackedChange | undefined
    for (const change of this.changes) {
      if (deferred !== undefined) {
        // A member the others could not remove still counts as a voter: later changes could stall.
        change.outcome = 'deferred'
        change.reason = `not attempted: the ${deferred.kind} of ${this.name(deferred.peerId)} was deferred`
      } else {
        await this.make(change)
      }
      this.hooks.info(`${this.clock()}  ${this.describe(change)}`)
      if (change.outcome === 'deferred') deferred = change
    }
    await Promise.all(this.drains)
  }

  describe(change: TrackedChange): string {
    const what = `${change.kind} of ${this.name(change.peerId)}`
    switch (change.outcome) {
      case 'done':
        return `${what}: done, seen by every live member after ${((change.tookMs ?? 0) / 1000).toFixed(1)} s${change.reason === undefined ? '' : ` (${change.reason})`}`
      case 'refused':
      case 'deferred':
        return `${what}: ${change.outcome.toUpperCase()}: ${change.reason}`
      default:
        return `${what}: ${change.outcome}`
    }
  }

  private async make(change: TrackedChange): Promise<void> {
    const { peer } = change
    this.hooks.info(
      `${this.clock()}  ${change.kind} of ${this.name(change.peerId)} (${change.membersBefore} members)`,
    )
    if (change.kind === 'join') {
      await this.join(change)
      return
    }
    try {
      await this.hooks.quiesce(peer)
    } catch (error) {
      change.outcome = 'deferred'
      change.reason = `its payloads were not delivered by the others: ${(error as Error).message}`
      return
    }
    const requested = Date.now()
    const refusal = change.kind === 'kill' ? await this.kill(peer) : await this.leave(peer)
    if (refusal !== undefined) {
      change.outcome = 'refused'
      change.reason = refusal
      this.hooks.resume(peer)
      return
    }
    change.outcome = 'requested'
    const seen = await this.seenEverywhere(change.peerId, requested + this.timers.agreeTimeoutMs)
    if (seen !== true) {
      change.outcome = 'deferred'
      change.reason = seen
      return
    }
    change.outcome = 'done'
    change.tookMs = Date.now() - requested
    if (change.kind === 'leave') {
      // Its drain serves the others' last pulls (at 3 members or fewer they cannot decide without
      // its last events): the run ends after it, with the votes still going on meanwhile.
      this.drains.push(
        this.exitOf(peer, this.timers.exitTimeoutMs).then((exit) => {
          if (exit === undefined) change.reason = 'still running after its removal'
          else if (exit !== 0) change.reason = `its process exited ${exit ?? 'on a signal'}`
        }),
      )
    }
  }

  /** Starts the joiner and waits until it is a member everywhere (or refused, or deferred). */
  private async join(change: TrackedChange): Promise<void> {
    const { peer, peerId } = change
    const requested = Date.now()
    try {
      await this.section.start(peer)
    } catch (error) {
      change.outcome = 'refused'
      change.reason = `its process did not start: ${(error as Error).message}`
      this.depart(peer)
      return
    }
    change.outcome = 'requested'
    const deadline = requested + this.timers.joinTimeoutMs
    for (;;) {
      const final = this.rejections.get(peerId)?.find((reason) => FINAL_REJECTIONS.has(reason))
      if (final !== undefined || this.section.peers[peer].child === undefined) {
        change.outcome = 'refused'
        change.reason =
          final !== undefined
            ? `rejected: ${final}`
            : `its process exited: ${this.section.peers[peer].stderr.at(-1) ?? ''}`
        break
      }
      const live = this.live()
      const statuses = await Promise.all(
        live.map((i) => this.section.peers[i].api?.status().catch(() => undefined)),
      )
      const own = statuses[live.indexOf(peer)]
      const listing = statuses.filter((s) => s?.members.includes(peerId)).length
      if (own?.self === 'member' && listing === live.length) {
        change.outcome = 'done'
        change.tookMs = Date.now() - requested
        this.hooks.joined(peer)
        return
      }
      if (Date.now() >= deadline) {
        const rejected = [...new Set(this.rejections.get(peerId) ?? [])]
        change.outcome = 'deferred'
        change.reason =
          `${own?.self ?? 'not answering'} after ${(this.timers.joinTimeoutMs / 1000).toFixed(0)} s, ` +
          `listed by ${listing} of ${live.length} live peers` +
          (rejected.length === 0 ? '' : `; rejected meanwhile: ${rejected.join(', ')}`)
        break
      }
      await new Promise((resolve) => setTimeout(resolve, this.timers.pollMs))
    }
    // Not in: stopped, so that it neither votes nor turns up as a member later.
    this.depart(peer)
    await this.section.kill(peer)
  }

  /** SIGKILLs `peer` (never refused). */
  private async kill(peer: number): Promise<undefined> {
    this.depart(peer)
    await this.section.kill(peer)
    return undefined
  }

  /** `POST /leave` at `peer`; the refusal's reason if it answers 409 (or fails). */
  private async leave(peer: number): Promise<string | undefined> {
    try {
      await this.section.api(peer).leave()
    } catch (error) {
      return error instanceof ApiRequestError
        ? `${error.reason ?? error.code}: ${error.detail}`
        : `POST /leave failed: ${(error as Error).message}`
    }
    this.depart(peer)
    return undefined
  }

  private depart(peer: number): void {
    this.hooks.departed(peer)
    this.gone.add(peer)
  }

  /** True once every live member's members lack `peerId`; else why not, at the deadline. */
  private async seenEverywhere(peerId: string, deadline: number): Promise<true | string> {
    for (;;) {
      const live = this.live()
      const statuses = await Promise.all(
        live.map((i) => this.section.peers[i].api?.status().catch(() => undefined)),
      )
      const known = statuses.filter((s): s is StatusJson => s !== undefined)
      const still = known.filter((s) => s.members.includes(peerId)).length
      if (known.length === live.length && still === 0) return true
      if (Date.now() >= deadline) {
        const suspecting = known.filter((s) => s.suspected.includes(peerId)).length
        return (
          `still a member at ${still} of ${live.length} live members after ` +
          `${(this.timers.agreeTimeoutMs / 1000).toFixed(0)} s (suspected by ${suspecting}; ` +
          `${live.length - known.length} did not answer)`
        )
      }
      await new Promise((resolve) => setTimeout(resolve, this.timers.pollMs))
    }
  }

  /** The exit code of peer `index` (null: a signal), or undefined if it still runs after `timeoutMs`. */
  private async exitOf(index: number, timeoutMs: number): Promise<number | null | undefined> {
    const exited = this.section.peers[index].exited
    if (exited === undefined) return undefined
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs)
    })
    try {
      const result = await Promise.race([exited, timeout])
      return result === undefined ? undefined : result.code
    } finally {
      clearTimeout(timer)
    }
  }

  private clock(): string {
    return `  ${((Date.now() - this.began) / 1000).toFixed(1).padStart(5)} s`
  }
}
