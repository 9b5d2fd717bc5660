/**
 * MEMBERSHIP.md §7's adversarial and failure scenarios of the membership machine, hosted by the
 * simulation: a joiner silent after its Add, a Sybil burst, a leaver crashing mid-drain, a forker
 * accused and banned, a resurrection with an old ticket, forged or stale JoinInfo served to a
 * joiner, and the live defaults. Each checks what it is about, on top of M1-M7 and agreement.
 * The knobs they use are in `membership-options.ts`; the adversary's side in `membership-adversary.ts`.
 */

import type { BlockDescription } from '@parsec-section/parsec-core'
import { agreedMembers, sameBlocks } from './membership-checks.js'
import { SIMULATION_MEMBERSHIP } from './membership-options.js'
import type { SimulationOptions } from './options.js'
import type { SimulationResult } from './result.js'
import type { Scenario } from './scenarios.js'
import { simulate } from './simulation.js'

/** The Sybil burst: 200 candidates over 1,000 steps (10 s at 10 ms a step), from step 1. */
const SYBILS = 200
const SYBIL_SPREAD = 1_000
/** The agreed-block rate under the burst must be at least this share of the no-attack run's. */
const SYBIL_MIN_RATE = 0.8
/** The forged JoinInfo of `membership-forged-join-info`, by seed. */
const FORGERIES = ['genesis', 'chain', 'stale'] as const

/** Position of the first block of `kind` about `peer` in `blocks`, or -1. */
function positionOf(blocks: readonly BlockDescription[], kind: 'add' | 'remove', peer: string): number {
  return blocks.findIndex((b) => b.kind === kind && b.peer === peer)
}

/** Per position of `blocks`: the section's size after it (genesis, Adds, Removes, accusations). */
function sizes(blocks: readonly BlockDescription[]): number[] {
  const members = new Set<string>()
  return blocks.map((b) => {
    if (b.kind === 'genesis') for (const p of b.peers) members.add(p)
    else if (b.kind === 'add') members.add(b.peer)
    else if (b.kind === 'remove') members.delete(b.peer)
    else if (b.kind === 'accusation') members.delete(b.offender)
    return members.size
  })
}

/**
 * Admissions per probation window: for every Add at position p that admits someone, the Adds in (p − probationBlocks, p]
 * (the members then young) stay within the young cap, 3·young < N + 1 (N after the Add): at most 1
 * while the section is below 6, so at most one admitted per probation window (MEMBERSHIP.md §7).
 */
function admissionsPerWindow(result: SimulationResult, name: string, probation: number): string[] {
  const blocks = result.peers[name]
  const size = sizes(blocks)
  // Only Adds that admit someone: a joiner's second ticket may be decided once it is a member
  // (a no-op for the fold, seed 2916), and a no-op makes nobody young.
  const adds = blocks.flatMap((b, i) => (b.kind === 'add' && size[i] > (size[i - 1] ?? 0) ? [i] : []))
  const problems: string[] = []
  for (const p of adds) {
    const young = adds.filter((q) => q > p - probation && q <= p).length
    if (3 * young >= size[p] + 1 || (size[p] <= 5 && young > 1)) {
      problems.push(
        `${name}: ${young} Adds within ${probation} blocks up to position ${p} (${size[p]} members)`,
      )
    }
  }
  return problems
}

/**
 * The agreed-block rate by `step`, against the offered load: the opaque payloads scheduled by then
 * that the section agreed by then (first honest member to agree each), as a share. Both runs of a
 * seed offer different loads (the Sybils' draws shift the random stream: 64 against 89 payloads in
 * 10 s for seed 16), so raw block counts compare the schedules, not the section's speed.
 */
function agreedShare(result: SimulationResult, step: number): { agreed: number; offered: number } {
  const m = result.membership!
  const blocks = result.peers[result.honest[0]] ?? []
  const offered = m.scheduledAt.filter((at) => at <= step).length
  const agreed = blocks.filter(
    (b, i) => b.kind === 'opaque' && (m.agreedAt[i] ?? Number.POSITIVE_INFINITY) <= step,
  ).length
  return { agreed, offered }
}

/** The outsider a run's only join (or silent join) named: the first name after the founders. */
function onlyJoiner(result: SimulationResult): string | undefined {
  const timing = result.membership?.joins[0]
  return timing?.peer
}

export const membershipAdversarialScenarios: readonly Scenario[] = [
  {
    name: 'membership-silent-joiner-removed',
    summary: '4 founders; a joiner goes silent once its Add is decided: removed after its join grace (N ≥ 4)',
    options: (seed) => ({
      seed,
      genesisSize: 4,
      opaque: 3,
      maxSteps: 3000,
      membership: { silentJoins: 1, window: 300 },
    }),
    check: (r) => {
      const problems: string[] = []
      const members = agreedMembers(r, problems)
      sameBlocks(r, problems)
      const m = r.membership!
      const joiner = onlyJoiner(r)
      if (joiner === undefined) return [...problems, 'no joiner asked']
      if (members.includes(joiner)) problems.push(`${joiner} is still a member`)
      if (!m.unresponsive.includes(joiner)) problems.push(`${joiner} is not among the unresponsive removed`)
      if (m.joined.includes(joiner)) problems.push(`${joiner} reported self:joined though silent`)
      const grace = SIMULATION_MEMBERSHIP.joinGraceBlocks ?? 0
      for (const name of r.honest) {
        const add = positionOf(r.peers[name], 'add', joiner)
        const remove = positionOf(r.peers[name], 'remove', joiner)
        if (add < 0 || remove < 0) problems.push(`${name} holds no Add and Remove of ${joiner}`)
        else if (remove - add <= grace) {
          problems.push(`${name}: ${joiner} removed ${remove - add} blocks after its Add, within its grace`)
        }
      }
      return problems
    },
  },
  {
    name: 'membership-silent-joiner-fragile-stall',
    summary:
      '2 founders; the third member goes silent after its Add: the documented fragile-phase stall (reported, not removed)',
    options: (seed) => ({
      seed,
      genesisSize: 2,
      opaque: 3,
      maxSteps: 1500,
      membership: { silentJoins: 1, window: 200 },
    }),
    // MEMBERSHIP.md §5: a joiner dying right after its Add freezes a section growing from 2 to 3;
    // losing a member at N ≤ 3 stalls (recovery is an out-of-band re-genesis). The run cannot end.
    expectedViolations: ['termination'],
    check: (r) => {
      const problems: string[] = []
      const stall = r.violations.find((v) => v.invariant === 'termination')
      const m = r.membership!
      const joiner = onlyJoiner(r)
      if (joiner === undefined) return ['no joiner asked']
      if (stall === undefined) problems.push('the run did not stall')
      else if (!stall.detail.includes(`silent-join(${joiner})`)) {
        problems.push(`the stall is not the silent joiner's: ${stall.detail.slice(0, 200)}`)
      }
      const members = agreedMembers(r, problems)
      if (members.length !== 3 || !members.includes(joiner)) {
        problems.push(`expected the 2 founders and ${joiner} as members, got ${members.join(',')}`)
      }
      if (m.unresponsive.includes(joiner)) problems.push(`${joiner} was removed`)
      for (const name of Object.keys(m.members)) {
        if (m.fragile[name] !== 3) problems.push(`${name} did not report the section fragile at 3 members`)
      }
      // Votes went on (traffic) but were never agreed: the two live voters are not a supermajority of 3.
      if (stall !== undefined && !/lacks opaque/.test(stall.detail))
        problems.push('no vote was left undecided')
      for (const name of r.honest) {
        if (positionOf(r.peers[name], 'add', joiner) < 0) problems.push(`${name} holds no Add of ${joiner}`)
      }
      sameBlocks(r, problems)
      return problems
    },
  },
  {
    name: 'membership-sybil-200',
    summary:
      '4 founders; 200 proof-of-work-valid candidates ask within 10 s: ≤ 1 admitted per probation window, young cap, block rate ≥ 80 % of the no-attack run',
    options: (seed) => ({
      seed,
      genesisSize: 4,
      // A steady workload over the burst and after it (no extra traffic: the same in both runs).
      opaque: 100,
      probOpaque: 0.08,
      maxSteps: 5000,
      membership: {
        sybil: SYBILS,
        sybilSpread: SYBIL_SPREAD,
        window: 1,
        probTraffic: 0,
        sybilGiveUpAfter: SYBIL_SPREAD,
        quietSteps: 100,
      },
    }),
    check: (r, o) => {
      const problems: string[] = []
      agreedMembers(r, problems)
      sameBlocks(r, problems)
      const m = r.membership!
      const probation = SIMULATION_MEMBERSHIP.probationBlocks ?? 0
      if (r.honest.length > 0) problems.push(...admissionsPerWindow(r, r.honest[0], probation))
      if (m.joined.length === 0) problems.push('no Sybil candidate was admitted (the burst had no effect)')
      if (m.deferred + m.rejected < SYBILS / 2) {
        problems.push(`only ${m.deferred + m.rejected} candidates held back or refused of ${SYBILS}`)
      }
      // The same seed without the burst: blocks agreed by the end of the burst window.
      const baseline = simulate(withoutSybils(o))
      const end = 1 + SYBIL_SPREAD
      const attacked = agreedShare(r, end)
      const calm = agreedShare(baseline, end)
      const rate = (s: { agreed: number; offered: number }) => s.agreed / Math.max(1, s.offered)
      if (baseline.violations.length > 0)
        problems.push(`the no-attack run failed: ${baseline.violations[0].detail}`)
      if (rate(attacked) < SYBIL_MIN_RATE * rate(calm)) {
        problems.push(
          `${attacked.agreed} of ${attacked.offered} payloads agreed in the burst's 10 s, < 80 % of the no-attack run's ${calm.agreed} of ${calm.offered}`,
        )
      }
      return problems
    },
  },
  {
    name: 'membership-leaver-crash-mid-drain',
    summary:
      '4 founders; a graceful leaver crashes while it drains: it has left, the other 3 agree on blocks and members',
    options: (seed) => ({
      seed,
      genesisSize: 4,
      // Payloads go on after the crash: the three decide them without the leaver.
      opaque: 20,
      probOpaque: 0.05,
      maxSteps: 3000,
      membership: { leaves: 1, crashMidDrain: true, window: 150 },
    }),
    check: (r) => {
      const problems: string[] = []
      const members = agreedMembers(r, problems)
      sameBlocks(r, problems)
      const m = r.membership!
      const leaver = m.drainCrashes[0]
      if (leaver === undefined) return [...problems, 'no leaver crashed while draining']
      // Its Remove was agreed before it drained (spec §4): it left; the crash only cut the linger.
      if (!m.left.includes(leaver)) problems.push(`${leaver} is not among those that left`)
      if (members.includes(leaver) || members.length !== 3) {
        problems.push(`expected the 3 others as members, got ${members.join(',')}`)
      }
      for (const name of r.honest) {
        const blocks = r.peers[name]
        const removed = positionOf(blocks, 'remove', leaver)
        if (removed < 0) problems.push(`${name} holds no Remove of ${leaver}`)
        else if (removed === blocks.length - 1) problems.push(`${name} agreed nothing after ${leaver} left`)
      }
      return problems
    },
  },
  {
    name: 'membership-forker-banned',
    summary:
      '5 founders, one forks: accused, the accusation removes and bans it; its later join request under its key is refused as Banned',
    options: (seed) => ({
      seed,
      genesisSize: 5,
      opaque: 3,
      maxSteps: 3000,
      byzantine: [{ behaviours: ['fork'] }],
      membership: { rejoinBanned: true },
    }),
    check: (r) => {
      const problems: string[] = []
      const members = agreedMembers(r, problems)
      sameBlocks(r, problems)
      const m = r.membership!
      const forker = Object.keys(r.byzantine)[0]
      if (!r.accused.includes(forker)) problems.push(`${forker} was not accused`)
      for (const name of r.honest) {
        if (!r.peers[name].some((b) => b.kind === 'accusation' && b.offender === forker)) {
          problems.push(`${name} holds no accusation of ${forker}`)
        }
      }
      if (!m.banned.includes(forker)) problems.push(`${forker} is not banned`)
      if (members.includes(forker) || members.length !== 4) {
        problems.push(`expected the 4 honest founders as members, got ${members.join(',')}`)
      }
      // Past the transport's ban (the simulation lets its dials through), the members' machines refuse it.
      if (!m.rejections.includes(`${forker}:Banned`))
        problems.push(`${forker}'s join request was not refused as Banned`)
      // A refusal for good (`NEVER`) ends its asking: the members it reached refused it, no one admitted it.
      if ((m.refusals[forker] ?? []).length === 0) problems.push(`no member's machine refused ${forker}`)
      for (const name of r.honest) {
        if (r.peers[name].some((b) => b.kind === 'add' && b.peer === forker))
          problems.push(`${name} added ${forker}`)
      }
      return problems
    },
  },
  {
    name: 'membership-resurrection-old-ticket',
    summary:
      '4 founders; a joiner joins, leaves, then replays its old join request: refused as a resurrection (M6)',
    options: (seed) => ({
      seed,
      genesisSize: 4,
      opaque: 3,
      maxSteps: 3000,
      membership: { joins: 1, resurrections: 1, window: 200 },
    }),
    check: (r) => {
      const problems: string[] = []
      const members = agreedMembers(r, problems)
      sameBlocks(r, problems)
      const m = r.membership!
      const joiner = onlyJoiner(r)
      if (joiner === undefined) return [...problems, 'no joiner asked']
      if (!m.joined.includes(joiner) || !m.left.includes(joiner))
        problems.push(`${joiner} did not join and leave`)
      if (members.includes(joiner)) problems.push(`${joiner} is a member again`)
      if (!m.rejections.includes(`${joiner}:Resurrection`)) {
        problems.push(`${joiner}'s old ticket was not refused as a resurrection (${m.rejections.join(',')})`)
      }
      if (m.rejected < 1) problems.push('no candidate refused')
      const refusedBy = m.refusals[joiner] ?? []
      if (refusedBy.length !== members.length) {
        problems.push(
          `${joiner}'s replay was refused by ${refusedBy.join(',') || 'nobody'}, not every member`,
        )
      }
      for (const name of r.honest) {
        if (r.peers[name].filter((b) => b.kind === 'add' && b.peer === joiner).length !== 1) {
          problems.push(`${name} does not hold exactly one Add of ${joiner}`)
        }
      }
      return problems
    },
  },
  {
    name: 'membership-forged-join-info',
    summary:
      "4 founders; two outsiders join one after the other while one founder serves joiners forged or stale JoinInfo (seed % 3: a GenesisRecord that does not hash to the section id, a chain with an unsigned Add, the genesis chain only): they detect it and join the true section (the reference's naughty Carol)",
    options: (seed) => {
      const forgedJoinInfo = FORGERIES[seed % FORGERIES.length]
      return {
        seed,
        genesisSize: 4,
        opaque: 3,
        maxSteps: 4000,
        membership: {
          joins: 2,
          forgedJoinInfo,
          window: 300,
          // One at a time: the second joiner asks once the first is in, so the forger's chain is
          // longer than the genesis and a stale one is a lie (seed 2483: both asked at genesis).
          joinsInTurn: true,
          // A stale chain is stale at once: a ticket on it is refused (StaleTicket), the joiner retries.
          ...(forgedJoinInfo === 'stale' ? { config: { ticketMaxAge: 1 } } : {}),
        },
      }
    },
    check: (r, o) => {
      const problems: string[] = []
      const members = agreedMembers(r, problems)
      sameBlocks(r, problems)
      const m = r.membership!
      const forge = o.membership?.forgedJoinInfo
      if (m.forgedJoinInfos === 0) problems.push(`no ${forge} JoinInfo was served`)
      if (forge !== 'stale' && (r.stats.faults['membership:ForgedChain'] ?? 0) === 0) {
        problems.push('no joiner detected the forged chain (ForgedChain fault)')
      }
      if (m.joined.length !== 2)
        problems.push(`expected 2 joiners to join, got ${m.joined.join(',') || 'none'}`)
      // Never adopted: every joiner's machine holds the members the founders hold (M1 checked every step).
      if (members.includes('Mallory') || members.length !== 6) {
        problems.push(`expected the 4 founders and 2 joiners, got ${members.join(',')}`)
      }
      for (const joiner of m.joined) {
        if (m.members[joiner] === undefined) problems.push(`${joiner} is not an honest member at the end`)
      }
      return problems
    },
  },
]

/**
 * The live defaults of MEMBERSHIP.md §8 (20 bits of work per ticket): seconds per seed, so it is
 * kept out of `membershipScenarios` and the 20-seed sweeps; CI runs it over a few seeds by name.
 */
export const membershipLiveDefaultsScenario: Scenario = {
  name: 'membership-live-defaults',
  summary:
    "4 founders; one outsider joins with MEMBERSHIP.md §8's live defaults (20 bits of work, probation 50...): slow, left out of the 20-seed sweeps",
  options: (seed) => ({
    seed,
    genesisSize: 4,
    opaque: 3,
    maxSteps: 30_000,
    membership: { joins: 1, profile: 'live', window: 100 },
  }),
  check: (r) => {
    const problems: string[] = []
    const members = agreedMembers(r, problems)
    sameBlocks(r, problems)
    const m = r.membership!
    if (m.joined.length !== 1) problems.push(`expected 1 join, got ${m.joined.join(',') || 'none'}`)
    if (members.length !== 5) problems.push(`expected 5 members, got ${members.join(',')}`)
    return problems
  },
}

/** The Sybil scenario's options without the Sybils (the no-attack run of the same seed). */
function withoutSybils(options: SimulationOptions): SimulationOptions {
  const { log: _log, ...rest } = options
  return { ...rest, membership: { ...options.membership, sybil: 0 } }
}
