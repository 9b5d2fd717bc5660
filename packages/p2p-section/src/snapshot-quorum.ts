/**
 * Which application state a newcomer may trust (the snapshot hook, docs/epochs.md §4): fewer than
 * a third of the checkpoint's voters are faulty, so a digest that f+1 distinct voters report
 * (f = floor((n - 1) / 3)) comes from at least one honest member, and honest members all hold the
 * same state at an agreed position. Pure: the caller authenticates who answered (the stream's
 * peer id).
 */
import { toString as bytesToString } from 'uint8arrays'

/** One voter's answer: the digest it reported for the checkpoint. */
export interface DigestAnswer {
  /** The answering peer (its authenticated peer id, as text). */
  readonly peer: string
  readonly digest: Uint8Array
}

/** A digest enough voters reported, and which of them did (in the order they answered). */
export interface AgreedDigest {
  readonly digest: Uint8Array
  readonly from: readonly string[]
}

/** f + 1 for `voters` voters: the fewest reports that include an honest one. */
export function reportsNeeded(voters: number): number {
  return Math.floor(Math.max(0, voters - 1) / 3) + 1
}

/**
 * The digest at least f+1 distinct `voters` reported; undefined while none has. Answers of
 * non-voters are ignored, and a voter counts once (its first answer). Should two digests both
 * reach f+1 (more than f faulty voters), the one more voters reported wins, then the first to
 * get there.
 */
export function agreedDigest(
  answers: readonly DigestAnswer[],
  voters: readonly string[],
): AgreedDigest | undefined {
  const allowed = new Set(voters)
  const seen = new Set<string>()
  const byDigest = new Map<string, { digest: Uint8Array; from: string[] }>()
  for (const { peer, digest } of answers) {
    if (!allowed.has(peer) || seen.has(peer)) continue
    seen.add(peer)
    const key = bytesToString(digest, 'base16')
    const entry = byDigest.get(key) ?? { digest, from: [] }
    entry.from.push(peer)
    byDigest.set(key, entry)
  }
  const needed = reportsNeeded(allowed.size)
  let best: { digest: Uint8Array; from: string[] } | undefined
  for (const entry of byDigest.values()) {
    if (entry.from.length >= needed && entry.from.length > (best?.from.length ?? 0)) best = entry
  }
  return best
}
