/**
 * MEMBERSHIP.md §7's simulation scenarios about changes (growth, many adds, many removals, churn,
 * failed adds and removes, a join while a removal is pending). Each asserts what it is about on top
 * of M1-M7, which the host checks after every step. A probe (trace and per-step view of the hosted
 * machines) records what the report does not: deferral reasons, votes, who suspected whom.
 */

import { agreedMembers } from './membership-checks.js'
import type { MembershipHostView, MembershipRunOptions, MembershipTraceEntry } from './membership-options.js'
import type { SimulationOptions } from './options.js'
import type { SimulationResult } from './result.js'
import type { Scenario } from './scenarios.js'

/** What a probed run saw beyond its report. */
interface Probe {
  readonly trace: MembershipTraceEntry[]
  /** Per step, calls of the scenario's own observer (kept small: it runs every step). */
  readonly notes: Map<string, number>
}

const probes = new WeakMap<MembershipRunOptions, Probe>()

/** Membership options that record the run's trace, and call `observe` after every step. */
function probed(
  options: MembershipRunOptions,
  observe?: (step: number, hosts: readonly MembershipHostView[], probe: Probe) => void,
): MembershipRunOptions {
  const probe: Probe = { trace: [], notes: new Map() }
  const membership: MembershipRunOptions = {
    ...options,
    trace: (entry) => probe.trace.push(entry),
    ...(observe === undefined ? {} : { tamper: (step, hosts) => observe(step, hosts, probe) }),
  }
  probes.set(membership, probe)
  return membership
}

function probeOf(options: SimulationOptions): Probe {
  const probe = options.membership === undefined ? undefined : probes.get(options.membership)
  if (probe === undefined) throw new Error('the run was not probed')
  return probe
}

/** Size and joins at the end, as expected. */
function expectSize(result: SimulationResult, size: number, joined: number, problems: string[]): string[] {
  const members = agreedMembers(result, problems)
  const m = result.membership!
  if (members.length !== size) problems.push(`expected ${size} members, got ${members.join(',')}`)
  if (m.joined.length !== joined)
    problems.push(`expected ${joined} joins, got ${m.joined.join(',') || 'none'}`)
  for (const name of m.joined) {
    if (!members.includes(name) && !m.left.includes(name)) problems.push(`${name} joined but is no member`)
  }
  if (m.unsettled.length > 0) problems.push(`unsettled: ${m.unsettled.join(', ')}`)
  return members
}

/** Distinct `change:deferred` reasons of the trace, per change kind (`add:YoungCap`, ...). */
function deferralReasons(probe: Probe): Set<string> {
  const reasons = new Set<string>()
  for (const e of probe.trace) {
    if (e.type === 'change:deferred' && e.detail !== undefined) reasons.add(e.detail.replace(': ', ':'))
  }
  return reasons
}

/** Notes `voted:NAME` (first step) for every member with an undecided membership vote of its own. */
function noteVoters(_step: number, hosts: readonly MembershipHostView[], probe: Probe): void {
  for (const h of hosts) {
    if (h.machine.state === undefined || h.machine.pendingVotes() === 0) continue
    const key = `voted:${h.name}`
    if (!probe.notes.has(key)) probe.notes.set(key, _step)
  }
}

/** Notes `addVoted:NAME` (first step) for every outsider some member sees an Add vote for. */
function noteAddVotes(_step: number, hosts: readonly MembershipHostView[], probe: Probe): void {
  for (const h of hosts) {
    if (h.machine.state === undefined) continue
    for (const other of hosts) {
      const key = `addVoted:${other.name}`
      if (probe.notes.has(key) || h.machine.peerState(other.name) !== 'candidate-voted') continue
      probe.notes.set(key, _step)
    }
  }
}

/** Members that cast a membership vote of their own during the run. */
function voters(probe: Probe): string[] {
  return [...probe.notes.keys()].filter((k) => k.startsWith('voted:')).map((k) => k.slice(6))
}

/** First step of a trace entry of `type` about `subject` (at any peer), or undefined. */
function firstStep(probe: Probe, type: string, subject: string, detail?: string): number | undefined {
  return probe.trace.find(
    (e) => e.type === type && e.subject === subject && (detail === undefined || e.detail === detail),
  )?.step
}

/** The join-while-removing scenarios: genesis of `size`, one silent member, a join while its Remove is pending. */
function joinWhileRemoving(size: number, admitted: boolean): Scenario {
  return {
    name: `membership-join-while-removing-${size}`,
    summary: admitted
      ? `${size} founders, one silent: a join while its Remove is pending is admitted (budget: 3(N-1) > 2(N+1))`
      : `${size} founders, one silent: a join while its Remove is pending is deferred (budget), then joins`,
    options: (seed) => ({
      seed,
      genesisSize: size,
      opaque: 3,
      maxSteps: 5000,
      membership: probed({ unresponsive: 1, joinsWhileRemoving: 1, window: 100 }, noteAddVotes),
    }),
    check: (r, o) => {
      const problems: string[] = []
      const m = r.membership!
      expectSize(r, size, 1, problems)
      const [silent] = m.unresponsive
      const [joiner] = m.joined
      if (silent === undefined || joiner === undefined) return [...problems, 'no removal or no join']
      const probe = probeOf(o)
      const removedAt = firstStep(probe, 'member:left', silent)
      const asked = m.joins[0].requestedAt
      const deferredAt = firstStep(probe, 'change:deferred', joiner, 'add: Budget')
      if (removedAt === undefined || asked >= removedAt)
        problems.push('the join did not come while the removal was pending')
      else if (admitted) {
        if (deferredAt !== undefined) problems.push(`${joiner} was deferred by the budget at ${deferredAt}`)
        const admittedAt = m.joins[0].admittedAt
        if (admittedAt === undefined || admittedAt >= removedAt)
          problems.push(
            `${joiner} was not admitted before ${silent}'s removal (${admittedAt} >= ${removedAt})`,
          )
      } else {
        if (deferredAt === undefined || deferredAt >= removedAt)
          problems.push(`${joiner} was not deferred by the budget before ${silent}'s removal`)
        // The budget rule holds back the Add, judged by each member's own view (M4 checks every
        // vote): a member may admit between a Remove round's lapse and the next round's votes
        // (seed 561), or vote when the silent one's last events reached it after the Remove vote
        // did (seed 1757: Carol heard Eric after Bob's Remove and voted Add(Fred) alone). What the
        // rule promises is the section's: the Add is not decided before the removal.
        const votedAt = probe.notes.get(`addVoted:${joiner}`)
        const joinedAt = firstStep(probe, 'member:joined', joiner)
        if (votedAt === undefined) problems.push(`no Add(${joiner}) vote was seen`)
        else if (joinedAt !== undefined && joinedAt < removedAt)
          problems.push(
            `Add(${joiner}) was decided at ${joinedAt}, before ${silent}'s removal at ${removedAt}`,
          )
      }
      return problems
    },
  }
}

/**
 * A failed add: the candidate's Ready reaches `readyTo` members (0: none). It is never added, only
 * those members vote its Add (fewer than f+1, so nobody seconds), and the run gives up on it.
 */
function failedAdd(r: SimulationResult, o: SimulationOptions, size: number, readyTo: number): string[] {
  const problems: string[] = []
  const members = expectSize(r, size, 0, problems)
  const [timing] = r.membership!.joins
  if (timing === undefined) return [...problems, 'no candidate']
  if (timing.admittedAt === undefined) problems.push(`${timing.peer} was never admitted`)
  if (members.includes(timing.peer)) problems.push(`${timing.peer} was added`)
  const adds = r.peers[r.honest[0]].filter((b) => b.kind === 'add' && b.peer === timing.peer)
  if (adds.length > 0) problems.push(`Add(${timing.peer}) was decided`)
  const cast = voters(probeOf(o)).sort()
  const reached = [...members].sort().slice(0, readyTo)
  if (cast.join(',') !== reached.join(','))
    problems.push(`Add votes by ${cast.join(',') || 'nobody'}, expected ${reached.join(',') || 'nobody'}`)
  return problems
}

/** Steps within which the add-many joiners all ask. */
const ADD_MANY_WINDOW = 50

export const membershipChangeScenarios: readonly Scenario[] = [
  {
    name: 'membership-grow-from-2',
    summary: 'a genesis of 2 grows to 7: 5 outsiders join through the protocol (fragile phase, then capped)',
    options: (seed) => ({ seed, genesisSize: 2, opaque: 3, maxSteps: 5000, membership: { joins: 5 } }),
    check: (r) => {
      const problems: string[] = []
      expectSize(r, 7, 5, problems)
      return problems
    },
  },
  {
    name: 'membership-add-many',
    summary: '4 founders, 12 outsiders ask at once: the caps defer some, all join in turn (4 -> 16, M4/M7)',
    options: (seed) => ({
      seed,
      genesisSize: 4,
      opaque: 3,
      maxSteps: 8000,
      membership: probed({ joins: 12, window: ADD_MANY_WINDOW }),
    }),
    check: (r, o) => {
      const problems: string[] = []
      expectSize(r, 16, 12, problems)
      const joins = r.membership!.joins
      const asked = joins.map((j) => j.requestedAt)
      const firstJoin = Math.min(...joins.map((j) => j.joinedAt ?? Number.POSITIVE_INFINITY))
      // Concurrent: all asked within the window, and most before the first of them joined (a
      // quick first joiner may beat the last few requests: seed 212's joined 24 steps after asking).
      if (Math.max(...asked) - Math.min(...asked) > ADD_MANY_WINDOW)
        problems.push(`requests spread over ${Math.max(...asked) - Math.min(...asked)} steps`)
      const early = asked.filter((at) => at < firstJoin).length
      if (2 * early < asked.length)
        problems.push(`only ${early} of ${asked.length} asked before the first join`)
      // Bounded: the machines held some back (candidate limit, young cap, spacing or budget).
      const reasons = [...deferralReasons(probeOf(o))].filter((reason) => reason.startsWith('add:'))
      if (reasons.length === 0) problems.push('no Add was deferred: the concurrency was not bounded')
      return problems
    },
  },
  {
    name: 'membership-remove-three-silent',
    summary: '10 founders, 3 go silent together: all 3 are suspected and removed in turn (7 left)',
    options: (seed) => ({
      seed,
      genesisSize: 10,
      opaque: 3,
      maxSteps: 5000,
      membership: { silentTogether: 3, window: 100 },
    }),
    check: (r) => {
      const problems: string[] = []
      const members = expectSize(r, 7, 0, problems)
      const removed = r.membership!.unresponsive
      if (removed.length !== 3) problems.push(`expected 3 silent members removed, got ${removed.join(',')}`)
      for (const name of removed) if (members.includes(name)) problems.push(`${name} is still a member`)
      for (const name of removed) {
        const blocks = r.peers[r.honest[0]].filter((b) => b.kind === 'remove' && b.peer === name)
        if (blocks.length === 0) problems.push(`no Remove(${name}) block`)
      }
      return problems
    },
  },
  {
    name: 'membership-remove-four-silent-stalls',
    summary: '10 founders, 4 go silent together: the section stalls, reports it, and votes no Remove',
    expectedViolations: ['termination'],
    options: (seed) => ({
      seed,
      genesisSize: 10,
      opaque: 3,
      maxSteps: 5000,
      membership: probed({ silentTogether: 4, window: 100 }, noteVoters),
    }),
    check: (r, o) => {
      const problems: string[] = []
      // The stall is reported: the run ends for lack of progress, naming the silences it could not take.
      // (Or, when every payload was agreed before the silences, the run is done and says the same.)
      const stall = r.violations.filter((v) => v.invariant === 'termination')
      if (stall.length > 1 || (stall.length === 1 && !stall[0].detail.startsWith('no progress')))
        problems.push(
          `expected the stall reported as no progress, got ${stall.map((v) => v.detail.slice(0, 80))}`,
        )
      const m = r.membership!
      const silent = m.unsettled.filter((c) => /^unresponsive\(\w+\) deferred$/.test(c))
      if (silent.length !== 4) problems.push(`expected 4 deferred silences, got ${m.unsettled.join(', ')}`)
      const members = agreedMembers(r, problems)
      if (members.length !== 10) problems.push(`expected all 10 still members, got ${members.join(',')}`)
      // With 6 of 10 live no Remove could be decided, and the budget rule keeps members that see the
      // silences from voting one. The spec cannot promise no vote at all: suspicion is a local view
      // (§4), and a member whose view counted one of the four silent over the last decisions before
      // the stall, and the others not (no decision since), suspects only that one and may vote its
      // Remove (seed 3158: Judy, Remove(Iris); M4 checks it met the budget in her view). Such votes
      // stay rare: fewer than a third of the members.
      const cast = voters(probeOf(o))
      if (cast.length * 3 >= members.length)
        problems.push(`membership votes cast by ${cast.join(',')} (a third of the members or more)`)
      if (m.unresponsive.length > 0) problems.push(`removed: ${m.unresponsive.join(',')}`)
      return problems
    },
  },
  joinWhileRemoving(7, true),
  joinWhileRemoving(5, false),
  {
    name: 'membership-churn-4-9-6',
    summary: '4 founders grow to 9 (5 joins), then 3 members leave gracefully, with random delays',
    options: (seed) => ({
      seed,
      genesisSize: 4,
      opaque: 3,
      maxSteps: 6000,
      delay: { min: 0, max: 5 },
      membership: probed({ joins: 5, leaves: 3, window: 400, leavesAfterJoins: true }),
    }),
    check: (r, o) => {
      const problems: string[] = []
      const members = expectSize(r, 6, 5, problems)
      const m = r.membership!
      const founders = ['Alice', 'Bob', 'Carol', 'Dave']
      if (m.left.length !== 3) problems.push(`expected 3 leaves, got ${m.left.join(',') || 'none'}`)
      const expected = [...founders, ...m.joined].filter((name) => !m.left.includes(name)).sort()
      if (expected.join(',') !== members.join(','))
        problems.push(`members ${members.join(',')} are not founders + joined - left (${expected.join(',')})`)
      // 4 -> 9 -> 6: every join came before the first leave.
      const trace = probeOf(o).trace
      const lastJoin = Math.max(...trace.filter((e) => e.type === 'member:joined').map((e) => e.step))
      const firstLeave = Math.min(...trace.filter((e) => e.type === 'member:left').map((e) => e.step))
      if (!(lastJoin < firstLeave))
        problems.push(`a leave (step ${firstLeave}) came before the last join (${lastJoin})`)
      return problems
    },
  },
  {
    name: 'membership-churn-interleaved',
    summary: '4 founders; 5 joins and 3 graceful leaves at random steps, with random delays (ends at 6)',
    options: (seed) => ({
      seed,
      genesisSize: 4,
      opaque: 3,
      maxSteps: 6000,
      delay: { min: 0, max: 6 },
      // Quiet for longer than candidateTimeoutMs (500 steps): a split Add vote lapses by then and
      // the joins it held back go on, rather than counting as settled while deferred.
      membership: { joins: 5, leaves: 3, window: 800, quietSteps: 800 },
    }),
    check: (r) => {
      const problems: string[] = []
      const members = expectSize(r, 6, 5, problems)
      const m = r.membership!
      if (m.left.length !== 3) problems.push(`expected 3 leaves, got ${m.left.join(',') || 'none'}`)
      for (const name of m.left) if (members.includes(name)) problems.push(`${name} left but is a member`)
      return problems
    },
  },
  {
    name: 'membership-failed-add-no-ready',
    summary: '5 founders; a candidate never sends Ready: admitted, never voted, never added',
    options: (seed) => ({
      seed,
      genesisSize: 5,
      opaque: 3,
      maxSteps: 4000,
      membership: probed(
        { unreadyJoins: { count: 1, readyTo: 0, giveUpSteps: 700 }, window: 100 },
        noteVoters,
      ),
    }),
    check: (r, o) => failedAdd(r, o, 5, 0),
  },
  {
    name: 'membership-failed-add-minority-votes',
    summary:
      "7 founders; a candidate's Ready reaches 2: their Add votes are no supermajority (nor f+1 to second)",
    options: (seed) => ({
      seed,
      genesisSize: 7,
      opaque: 3,
      maxSteps: 4000,
      membership: probed(
        { unreadyJoins: { count: 1, readyTo: 2, giveUpSteps: 700 }, window: 100 },
        noteVoters,
      ),
    }),
    check: (r, o) => failedAdd(r, o, 7, 2),
  },
  {
    name: 'membership-failed-add-stale-ticket',
    summary:
      '5 founders; a join request arrives after a membership block made its ticket stale: refused, rejoins fresh',
    options: (seed) => ({
      seed,
      genesisSize: 5,
      opaque: 3,
      maxSteps: 4000,
      membership: probed({ staleJoins: 1, joins: 1, window: 100, config: { ticketMaxAge: 1 } }),
    }),
    check: (r, o) => {
      const problems: string[] = []
      expectSize(r, 7, 2, problems)
      const m = r.membership!
      // The held request was refused as stale by the members; the joiner came back with a fresh one.
      const refused = probeOf(o).trace.filter(
        (e) => e.type === 'join:rejected' && e.detail === 'StaleTicket' && e.peer !== e.subject,
      )
      const stale = [...new Set(refused.map((e) => e.subject ?? ''))]
      if (stale.length !== 1)
        problems.push(`expected one joiner refused as stale, got ${stale.join(',') || 'none'}`)
      for (const name of stale)
        if (!m.joined.includes(name)) problems.push(`${name} did not rejoin with a fresh ticket`)
      return problems
    },
  },
  {
    name: 'membership-failed-remove-flapping',
    summary:
      '7 founders, 2 impatient; a flapping member is suspected by those 2 only: their Remove lapses, it stays',
    options: (seed) => ({
      seed,
      genesisSize: 7,
      opaque: 3,
      maxSteps: 5000,
      membership: probed(
        {
          flapping: { silentSteps: 120, activeSteps: 120, periods: 3 },
          impatient: { count: 2, config: { unresponsiveDecisions: 1, unresponsiveMs: 300 } },
          window: 100,
        },
        noteVoters,
      ),
    }),
    check: (r, o) => {
      const problems: string[] = []
      expectSize(r, 7, 0, problems)
      const cast = voters(probeOf(o)).sort()
      if (cast.length === 0) problems.push('nobody suspected the flapping member')
      const outside = cast.filter((name) => name !== 'Alice' && name !== 'Bob')
      if (outside.length > 0) problems.push(`patient members voted: ${outside.join(',')}`)
      const removes = r.peers[r.honest[0]].filter((b) => b.kind === 'remove')
      if (removes.length > 0) problems.push(`a Remove was decided: ${removes.map((b) => b.peer).join(',')}`)
      return problems
    },
  },
]
