/**
 * Short membership timers and light proof of work, for the peers of the demo, the live benchmarks
 * and the tests (`import … from 'parsec-peer/quick-membership'`): joins, removals and drains take
 * seconds, not minutes. The machine's defaults (`DEFAULTS` of @parsec-section/membership) are for
 * real use. The parts are config fragments, the presets the `parsec-peer start` flags of one use;
 * where two presets differ, the difference is deliberate (see each).
 */
import { membershipArgs } from './membership-flags.js'

export { membershipArgs }

/**
 * Joins made cheap: 4 bits of proof of work, a probation of 4 agreed blocks, and an Add every
 * agreed block (from 4 members on, a section admits the next joiner only once the previous one
 * aged `probationBlocks` agreed blocks).
 */
export const QUICK_JOINS = { powBits: 4, probationBlocks: 4, minBlocksBetweenAdds: 1 } as const

/** A candidate without progress forgotten after 10 s (default 60 s): a stalled join is retried soon. */
export const QUICK_JOIN_RETRY = { candidateTimeoutMs: 10_000 } as const

/** A silent member suspected after 2 s and 5 decisions without its progress (both needed). */
export const QUICK_REMOVALS = { unresponsiveMs: 2000, unresponsiveDecisions: 5 } as const

/** A leaving or removed member drains (serves pulls) for 5 s. */
export const QUICK_DRAIN = { lingerMs: 5000 } as const

/** Peers that join in seconds: cheap joins, a stalled one retried after 10 s (the join tests). */
export const QUICK_JOIN_ARGS: readonly string[] = membershipArgs({ ...QUICK_JOINS, ...QUICK_JOIN_RETRY })

/** The demo's peers when it changes the membership (`--join`, `--leave`, `--kill`). */
export const DEMO_CHANGE_ARGS: readonly string[] = membershipArgs({ ...QUICK_REMOVALS, ...QUICK_DRAIN })

/**
 * The demo's peers with `--join`, besides `DEMO_CHANGE_ARGS`: `QUICK_JOIN_ARGS` and a join grace of
 * 10 s: a new member is judged by it until the others hear from it, so one killed right after it
 * joined (before it sent anything) is removed after 10 s rather than the default 2 minutes.
 */
export const DEMO_JOIN_ARGS: readonly string[] = membershipArgs({
  ...QUICK_JOINS,
  ...QUICK_JOIN_RETRY,
  joinGraceMs: 10_000,
})

/**
 * `bench-live`'s join part: cheap joins and drain; a stalled candidate is forgotten after the
 * default 60 s (only the churn part shortens it, so that its joins happen within its window).
 */
export const BENCH_JOIN_ARGS: readonly string[] = membershipArgs({ ...QUICK_JOINS, ...QUICK_DRAIN })

/** `bench-live`'s churn part: `BENCH_JOIN_ARGS`, and a stalled join retried after 10 s. */
export const BENCH_CHURN_ARGS: readonly string[] = membershipArgs({
  ...QUICK_JOINS,
  ...QUICK_DRAIN,
  ...QUICK_JOIN_RETRY,
})
