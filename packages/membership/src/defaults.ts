/**
 * Every tunable of the membership machine, with the defaults of MEMBERSHIP.md §8 (for live
 * sections) and the ones this package had to decide where the spec is silent (README: "Defaults").
 * Simulations pass smaller values; every field is configurable.
 */
import { MembershipError } from './errors.js'
import type { CheckpointRule } from './state/section-state.js'

/** A token bucket: `burst` tokens, refilled at `perSecond`. */
export interface RateLimit {
  readonly burst: number
  readonly perSecond: number
}

export interface MembershipConfig {
  /** Below this size the section is fragile: one candidate at a time, young and rate caps lifted. */
  readonly minSize: number
  readonly maxSize: number
  /** Proof-of-work difficulty of `openWithWork`, in leading zero bits. */
  readonly powBits: number
  /**
   * The most work a joiner does for a ticket: a JoinInfo is not signed as a whole, so its
   * `powBits` could ask for anything (255 bits would keep the joiner hashing forever).
   */
  readonly maxPowBits: number
  /** A ticket is fresh while its head is among the last this many membership blocks. */
  readonly ticketMaxAge: number
  /** Candidates admitted at once (one below `minSize`). */
  readonly maxCandidates: number
  /** A candidate sends Ready within this many agreed blocks of its server's count. */
  readonly readyLag: number
  /** A member added fewer agreed blocks ago is young (young cap). */
  readonly probationBlocks: number
  /** Agreed blocks between two Adds we vote (outside the fragile phase). */
  readonly minBlocksBetweenAdds: number
  /** Suspect a voter after this many decisions without its progress... */
  readonly unresponsiveDecisions: number
  /** ...and this long on the injected clock (both are needed). */
  readonly unresponsiveMs: number
  /** A new voter must be active within these many agreed blocks... */
  readonly joinGraceBlocks: number
  /** ...and this long, else it is removed as silent. */
  readonly joinGraceMs: number
  /** A Remove vote's round is ⌊agreedBlocks / suspicionWindow⌋; a vote lapses with its round. */
  readonly suspicionWindow: number
  /** How long a removed peer keeps serving pulls after its removal (the drain). */
  readonly lingerMs: number
  /** A removed peer may ask to rejoin after this long (local check). */
  readonly rejoinCooldownMs: number
  /** Our undecided membership votes at most (current round only). */
  readonly maxPendingVotes: number
  // --- decided here (spec silent) ---
  /** A joiner restarts from a fresh JoinInfo after this long without progress; members forget a
   * candidate that sent no valid Ready for this long. */
  readonly candidateTimeoutMs: number
  /**
   * A joiner with no JoinInfo yet asks its contacts again after this long, then after twice as
   * long each time (until `candidateTimeoutMs` restarts it): a member answers only once the
   * genesis block is agreed, and a request may be lost on the way.
   */
  readonly joinInfoRetryMs: number
  /**
   * An epoch's agreed blocks before members vote its Checkpoint (docs/epochs.md); 0 votes none.
   * Off until the epoch switch lands in the hosts: a checkpoint alone only marks the sequence.
   */
  readonly checkpointBlocks: number
  /**
   * Also due once the epoch's agreed observations reach this many bytes (a proxy of its graph's
   * size: large payloads fill memory with few blocks); 0 turns this trigger off.
   */
  readonly checkpointBytes: number
  /** History digests kept, for checking a Ready's `k`. */
  readonly historyWindow: number
  /** Deferred join requests kept for re-evaluation (drop-oldest). */
  readonly maxDeferred: number
  /** Ready messages held for a `k` we have not reached yet. */
  readonly maxHeldReady: number
  /** Others' unconsensused Add/Remove votes remembered (seconding, the budget's J). */
  readonly maxObservedVotes: number
  /** Join requests per peer. */
  readonly joinRate: RateLimit
  /** Join requests per address prefix (/24 or /48). */
  readonly prefixRate: RateLimit
  /** JoinInfo requests per peer (each answer carries the whole chain). */
  readonly joinInfoRate: RateLimit
  /** Local bans of abusive non-members: first length, doubled per offence up to the max. */
  readonly localBanMs: number
  readonly localBanMaxMs: number
  /** Members announce themselves on the section's topic this often (± announceJitter). */
  readonly announceIntervalMs: number
  readonly announceJitter: number
  /** The retry hint of `SectionFull`. */
  readonly fullRetryAfterMs: number
  /** The retry hint of deferred requests. */
  readonly deferRetryAfterMs: number
  /** Invitations each member may have admitted (invitation policy). */
  readonly invitesPerMember: number
  /** Partner weight of a voter we have not heard from yet (members gossip to it sparingly). */
  readonly joiningPartnerWeight: number
}

export const DEFAULTS: MembershipConfig = {
  minSize: 4,
  maxSize: 32,
  powBits: 20,
  maxPowBits: 24,
  ticketMaxAge: 4,
  maxCandidates: 2,
  readyLag: 5,
  probationBlocks: 50,
  minBlocksBetweenAdds: 10,
  unresponsiveDecisions: 30,
  unresponsiveMs: 60_000,
  joinGraceBlocks: 40,
  joinGraceMs: 120_000,
  suspicionWindow: 50,
  lingerMs: 10_000,
  rejoinCooldownMs: 5 * 60_000,
  maxPendingVotes: 4,
  candidateTimeoutMs: 60_000,
  joinInfoRetryMs: 5_000,
  checkpointBlocks: 0,
  checkpointBytes: 0,
  historyWindow: 256,
  maxDeferred: 16,
  maxHeldReady: 16,
  maxObservedVotes: 1024,
  joinRate: { burst: 4, perSecond: 0.2 },
  prefixRate: { burst: 32, perSecond: 2 },
  joinInfoRate: { burst: 2, perSecond: 0.1 },
  localBanMs: 60_000,
  localBanMaxMs: 60 * 60_000,
  announceIntervalMs: 60_000,
  announceJitter: 0.25,
  fullRetryAfterMs: 60_000,
  deferRetryAfterMs: 5_000,
  invitesPerMember: 4,
  joiningPartnerWeight: 0.25,
}

/** Never retry (banned, not allowed): the largest u64 the codec carries. */
export const NEVER = Number.MAX_SAFE_INTEGER

/** The defaults overridden by `overrides`, checked. */
export function resolveConfig(overrides: Partial<MembershipConfig> = {}): MembershipConfig {
  const config = { ...DEFAULTS, ...overrides }
  const positive: (keyof MembershipConfig)[] = [
    'minSize',
    'maxSize',
    'ticketMaxAge',
    'maxCandidates',
    'suspicionWindow',
    'unresponsiveDecisions',
    'historyWindow',
    'maxPendingVotes',
    'joinInfoRetryMs',
  ]
  for (const key of positive) {
    const value = config[key]
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new MembershipError('InvalidArgument', `${key} must be a positive integer, not ${String(value)}`)
    }
  }
  if (config.powBits < 0 || config.powBits > 255 || !Number.isInteger(config.powBits)) {
    throw new MembershipError('InvalidArgument', `powBits must be an integer in 0..255`)
  }
  if (config.maxPowBits < 0 || config.maxPowBits > 255 || !Number.isInteger(config.maxPowBits)) {
    throw new MembershipError('InvalidArgument', `maxPowBits must be an integer in 0..255`)
  }
  if (!Number.isInteger(config.checkpointBlocks) || config.checkpointBlocks < 0) {
    throw new MembershipError('InvalidArgument', 'checkpointBlocks must be a non-negative integer')
  }
  if (!Number.isSafeInteger(config.checkpointBytes) || config.checkpointBytes < 0) {
    throw new MembershipError('InvalidArgument', 'checkpointBytes must be a non-negative integer')
  }
  if (config.maxSize < config.minSize) throw new MembershipError('InvalidArgument', 'maxSize < minSize')
  return config
}

/** A config's checkpoint triggers, as `SectionState` takes them. */
export function checkpointRuleOf(config: MembershipConfig): CheckpointRule {
  return { blocks: config.checkpointBlocks, bytes: config.checkpointBytes }
}
