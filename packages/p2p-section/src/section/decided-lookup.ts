/**
 * A rebased member's question (docs/epochs.md §4): which of its payloads not delivered to it were
 * decided in the blocks it missed, [from, to)? Those were decided once already; the others never
 * will be (an old epoch's decisions after its checkpoint are dropped), so they must be voted again.
 * Members answer from their delivered blocks (the decided protocol); fewer than a third of the
 * voters are faulty, so an answer that f+1 distinct voters gave comes from an honest one
 * (snapshot-quorum.ts), and honest members hold the same blocks. The range is asked a window of
 * `MAX_DECIDED_RANGE` blocks and a page of `MAX_DECIDED_KEYS` keys at a time. Until f+1 agree
 * (members unreachable or not there yet) it asks again after a backoff; once too many no longer
 * keep the blocks (block retention) for f+1 to answer, the fate of what is left is unknown.
 */
import type { Logger, PeerId } from '@libp2p/interface'
import * as C from '../constants.js'
import type { DecidedPayload, DecidedReport } from '../decided.js'
import { Backoff, pause } from '../scheduler.js'
import { agreedDigest, type DigestAnswer, reportsNeeded } from '../snapshot-quorum.js'
import { keyOfDigest } from './own-votes.js'

/** Where answers come from (the decided protocol; a fake in tests). */
export interface DecidedSource {
  ask(peer: PeerId, from: number, to: number, keys: readonly Uint8Array[]): Promise<DecidedReport>
}

/** What the lookup established, by payload key (own-votes.ts `payloadKey`). */
export interface DecidedLookupResult {
  /** Keys decided in the range, with their position. */
  readonly decided: ReadonlyMap<string, number>
  /** Keys whose fate could not be established (the members no longer keep the blocks). */
  readonly unknown: ReadonlySet<string>
}

export interface DecidedLookupOptions {
  readonly retryMs: number
  readonly maxRetryMs: number
  readonly maxRange?: number
  readonly maxKeys?: number
}

/**
 * An answer in a form equal for equal answers: what it found among `asked`, in [from, to), sorted
 * (what else a server sends cannot matter, nor its order).
 */
function canonical(found: readonly DecidedPayload[], asked: ReadonlySet<string>, from: number, to: number) {
  const seen = new Map<string, number>()
  for (const { key, position } of found) {
    const k = keyOfDigest(key)
    if (asked.has(k) && position >= from && position < to && !seen.has(k)) seen.set(k, position)
  }
  const entries = [...seen].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return { entries, digest: new TextEncoder().encode(JSON.stringify(entries)) }
}

export class DecidedLookup {
  constructor(
    private readonly source: DecidedSource,
    /** Asking `peer` failed (sorted into faults and link errors by the caller). */
    private readonly failed: (peer: PeerId, error: unknown) => void,
    private readonly options: DecidedLookupOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Which of `digests` (our payloads' SHA-256) were decided in [from, to), by f+1 of `voters` (the
   * current epoch's; `us` among them counts in n and is not asked). Undefined once `signal`
   * aborted.
   */
  async run(
    digests: readonly Uint8Array[],
    from: number,
    to: number,
    voters: readonly PeerId[],
    us: PeerId,
    signal: AbortSignal,
  ): Promise<DecidedLookupResult | undefined> {
    const maxRange = this.options.maxRange ?? C.MAX_DECIDED_RANGE
    const maxKeys = this.options.maxKeys ?? C.MAX_DECIDED_KEYS
    const names = voters.map((p) => p.toString())
    const others = voters.filter((p) => !p.equals(us))
    const needed = reportsNeeded(names.length)
    const remaining = new Map(digests.map((d) => [keyOfDigest(d), d]))
    const decided = new Map<string, number>()
    for (let start = from; start < to && remaining.size > 0; start += maxRange) {
      const end = Math.min(to, start + maxRange)
      const keys = [...remaining.entries()]
      for (let page = 0; page < keys.length; page += maxKeys) {
        const asked = keys.slice(page, page + maxKeys)
        const askedKeys = new Set(asked.map(([k]) => k))
        const backoff = new Backoff(this.options.retryMs, this.options.maxRetryMs)
        for (let round = 1; ; round++) {
          if (signal.aborted) return undefined
          const answers: DigestAnswer[] = []
          const byDigest = new Map<string, [string, number][]>()
          let notRetained = 0
          await Promise.all(
            others.map(async (peer) => {
              try {
                const report = await this.source.ask(
                  peer,
                  start,
                  end,
                  asked.map(([, d]) => d),
                )
                if (report.status === 'ok') {
                  const { entries, digest } = canonical(report.found, askedKeys, start, end)
                  answers.push({ peer: peer.toString(), digest })
                  byDigest.set(new TextDecoder().decode(digest), entries)
                } else if (report.status === 'not-retained') notRetained++
              } catch (error) {
                if (!signal.aborted) this.failed(peer, error)
              }
            }),
          )
          if (signal.aborted) return undefined
          const agreed = agreedDigest(answers, names)
          if (agreed !== undefined) {
            for (const [k, position] of byDigest.get(new TextDecoder().decode(agreed.digest)) ?? []) {
              decided.set(k, position)
              remaining.delete(k)
            }
            break
          }
          if (others.length - notRetained < needed) {
            this.log(
              'blocks %d to %d: %d of %d voters no longer keep them; %d payloads of ours of unknown fate',
              start,
              end,
              notRetained,
              names.length,
              remaining.size,
            )
            return { decided, unknown: new Set(remaining.keys()) }
          }
          const wait = backoff.fail('members')
          this.log(
            'blocks %d to %d, round %d: %d of %d voters answered, none by f+1 yet; again in %d ms',
            start,
            end,
            round,
            answers.length,
            names.length,
            wait,
          )
          await pause(wait, signal)
        }
      }
    }
    return { decided, unknown: new Set() }
  }
}
