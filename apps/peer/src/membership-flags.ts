/**
 * The membership machine's timers and limits (MEMBERSHIP.md §8, `MembershipConfig`) as flags of
 * `parsec-peer start`, one per field, named after it (`unresponsiveMs` is `--unresponsive-ms`).
 * Unset flags keep the machine's defaults (for real use); tests shorten e.g. the unresponsive
 * window, the join grace and the rejoin cooldown. Each value is checked here (an unsigned integer
 * in the flag's range), then the whole set by the machine's own `resolveConfig`, so a nonsense value
 * is a `UsageError` (exit 2) naming the flag before anything starts.
 */
import { DEFAULTS, isMembershipError, type MembershipConfig, resolveConfig } from '@parsec-section/membership'
import { constants } from '@parsec-section/p2p-section'
import { UsageError } from './args.js'

/** The numeric fields of `MembershipConfig` that are flags. */
type FlagKey = {
  [K in keyof MembershipConfig]: MembershipConfig[K] extends number ? K : never
}[keyof MembershipConfig]

interface MembershipFlag {
  readonly key: FlagKey
  readonly min: number
  readonly max: number
  readonly help: string
}

/** The longest delay a node timer takes (2^31 - 1 ms, about 24.8 days); longer would fire at once. */
const MAX_MS = 2 ** 31 - 1
const MAX_COUNT = 2 ** 32 - 1

const FLAGS: readonly MembershipFlag[] = [
  { key: 'minSize', min: 1, max: 10_000, help: 'below this many members the section is fragile' },
  { key: 'maxSize', min: 1, max: 10_000, help: 'members at most (join requests beyond: SectionFull)' },
  { key: 'powBits', min: 0, max: 64, help: "a joiner's proof of work, in leading zero bits" },
  { key: 'maxPowBits', min: 0, max: 64, help: 'the most work this peer does to join a section' },
  { key: 'ticketMaxAge', min: 1, max: MAX_COUNT, help: 'membership blocks a join ticket stays fresh' },
  { key: 'maxCandidates', min: 1, max: 10_000, help: 'candidates admitted at once' },
  { key: 'readyLag', min: 0, max: MAX_COUNT, help: "agreed blocks a candidate's Ready may lag" },
  { key: 'probationBlocks', min: 0, max: MAX_COUNT, help: 'agreed blocks a new member stays young' },
  { key: 'minBlocksBetweenAdds', min: 0, max: MAX_COUNT, help: 'agreed blocks between two Adds' },
  {
    key: 'unresponsiveDecisions',
    min: 1,
    max: MAX_COUNT,
    help: 'a member is suspected after this many decisions without its progress',
  },
  { key: 'unresponsiveMs', min: 1, max: MAX_MS, help: 'and this long without it (both are needed)' },
  {
    key: 'joinGraceBlocks',
    min: 0,
    max: MAX_COUNT,
    help: 'a new voter must be heard within these agreed blocks',
  },
  { key: 'joinGraceMs', min: 0, max: MAX_MS, help: 'and this long, else it is removed as silent' },
  { key: 'suspicionWindow', min: 1, max: MAX_COUNT, help: 'agreed blocks per round of Remove votes' },
  { key: 'lingerMs', min: 0, max: MAX_MS, help: 'a removed peer serves pulls this long (the drain)' },
  { key: 'rejoinCooldownMs', min: 0, max: MAX_MS, help: 'a removed peer may ask to rejoin after this' },
  { key: 'maxPendingVotes', min: 1, max: 10_000, help: 'our undecided membership votes at most' },
  { key: 'candidateTimeoutMs', min: 1, max: MAX_MS, help: 'a candidate without progress is forgotten' },
  {
    key: 'checkpointBlocks',
    min: 0,
    max: MAX_COUNT,
    help: 'agreed blocks per epoch, then a checkpoint and a new engine (0: no epochs; the same at every member)',
  },
  {
    key: 'checkpointBytes',
    min: 0,
    max: MAX_COUNT,
    help: "or fewer, once the epoch's agreed payloads take this many bytes (0: no size trigger)",
  },
  {
    key: 'joinInfoRetryMs',
    min: 1,
    max: MAX_MS,
    help: 'a joiner no member answered asks again after this (doubling)',
  },
]

/** `unresponsiveMs` → `unresponsive-ms`. */
function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

/** The options for `parse` (node's parseArgs): every membership flag takes a string. */
export const MEMBERSHIP_OPTIONS: Record<string, { type: 'string' }> = Object.fromEntries(
  FLAGS.map((flag) => [flagName(flag.key), { type: 'string' as const }]),
)

/** The help lines of the membership flags, with their defaults. */
/** A flag's default as the service runs it (it turns epochs on, where the machine's default is off). */
function defaultOf(key: FlagKey): number {
  if (key === 'checkpointBlocks') return constants.CHECKPOINT_BLOCKS
  if (key === 'checkpointBytes') return constants.CHECKPOINT_BYTES
  return DEFAULTS[key]
}

export function membershipHelp(indent = '  '): string {
  const rows = FLAGS.map((flag) => [`--${flagName(flag.key)} N`, `${flag.help} (${defaultOf(flag.key)})`])
  const width = Math.max(...rows.map(([name]) => name.length)) + 2
  return rows.map(([name, help]) => `${indent}${name.padEnd(width)}${help}`).join('\n')
}

/** The membership config the flags set (only what was given), checked as a whole. */
export function membershipConfig(values: Record<string, unknown>): Partial<MembershipConfig> {
  const config: Partial<Record<FlagKey, number>> = {}
  for (const flag of FLAGS) {
    const name = flagName(flag.key)
    const raw = values[name]
    if (raw === undefined) continue
    const unit = flag.key.endsWith('Ms') ? ' (milliseconds)' : ''
    if (typeof raw !== 'string' || !/^\d+$/.test(raw)) {
      throw new UsageError(`--${name} takes an unsigned integer${unit}, not '${String(raw)}'`)
    }
    const value = Number(raw)
    if (!Number.isSafeInteger(value) || value < flag.min || value > flag.max) {
      throw new UsageError(`--${name} must be between ${flag.min} and ${flag.max}${unit}, not ${raw}`)
    }
    config[flag.key] = value
  }
  const min = config.minSize ?? DEFAULTS.minSize
  const max = config.maxSize ?? DEFAULTS.maxSize
  if (max < min) throw new UsageError(`--max-size ${max} is below --min-size ${min}`)
  try {
    resolveConfig(config)
  } catch (error) {
    if (isMembershipError(error)) throw new UsageError(`membership flags: ${error.message}`)
    throw error
  }
  return config
}

/**
 * The `start` flags that set `config`, in its key order: `{ powBits: 4 }` → `['--pow-bits', '4']`.
 * The inverse of `membershipConfig` (which checks the values when a peer parses them).
 */
export function membershipArgs(config: Partial<Record<FlagKey, number>>): string[] {
  return Object.entries(config).flatMap(([key, value]) => [`--${flagName(key)}`, String(value)])
}
