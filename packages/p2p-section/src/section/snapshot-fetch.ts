/**
 * A newcomer's side of the snapshot hook (docs/epochs.md §4): before its first block at an epoch's
 * start S, it installs the application's state at the checkpoint Q = S - 1. It asks the checkpoint's
 * voters for their digest, accepts one once f+1 of them reported it (snapshot-quorum.ts), fetches
 * the state from one that did, checks it with `digestOf` (other bytes are a fault of that member's:
 * the next one is tried), and installs it. While fewer than f+1 agree (members still delivering Q,
 * or unreachable) it asks again after a backoff (capped exponential), until it succeeds, is
 * aborted, or too many voters no longer hold the state for f+1 to report it (members keep the last
 * two checkpoints' states): the newcomer then fetches a later one.
 */
import type { Logger, PeerId } from '@libp2p/interface'
import { equals } from 'uint8arrays'
import { Backoff, pause } from '../scheduler.js'
import type { DigestReport } from '../snapshot.js'
import { agreedDigest, type DigestAnswer, reportsNeeded } from '../snapshot-quorum.js'
import type { SnapshotHook, SnapshotInstalled } from './api.js'

/** Where digests and states come from (the snapshot protocol; a fake in tests). */
export interface SnapshotSource {
  digest(peer: PeerId, position: number): Promise<DigestReport>
  /** The state, or undefined when the member no longer (or not yet) serves it. */
  fetch(peer: PeerId, position: number, digest: Uint8Array): Promise<Uint8Array | undefined>
}

/** What the fetch reports on the way. */
export interface SnapshotFetchEvents {
  /** `peer` served bytes that do not match the digest f+1 members reported (a fault). */
  mismatch(peer: PeerId, message: string): void
  /** Asking or fetching from `peer` failed (sorted into faults and link errors by the caller). */
  failed(peer: PeerId, error: unknown): void
}

/** How a fetch ended (undefined: aborted). */
export type SnapshotFetchResult =
  | (SnapshotInstalled & { readonly kind: 'installed'; readonly digest: Uint8Array })
  /** Fewer than f+1 voters still hold the state at that checkpoint: it can no longer be trusted. */
  | { readonly kind: 'gone' }

export interface SnapshotFetchOptions {
  readonly retryMs: number
  readonly maxRetryMs: number
}

export class SnapshotFetch {
  constructor(
    private readonly source: SnapshotSource,
    private readonly hook: Pick<SnapshotHook, 'digestOf' | 'install'>,
    private readonly events: SnapshotFetchEvents,
    private readonly options: SnapshotFetchOptions,
    private readonly log: Logger,
    /** Shuffles the members to fetch from (random by default: no member serves every newcomer). */
    private readonly shuffle: <T>(items: T[]) => T[] = shuffled,
  ) {}

  /**
   * Installs the state at `position` agreed by f+1 of `voters` (the checkpoint's voters; `us`
   * among them is not asked but counts in n). Resolves with what was installed, `gone` once too
   * many voters answered that they no longer hold it, or undefined once `signal` aborted.
   */
  async run(
    position: number,
    voters: readonly PeerId[],
    us: PeerId,
    signal: AbortSignal,
  ): Promise<SnapshotFetchResult | undefined> {
    const names = voters.map((p) => p.toString())
    const others = voters.filter((p) => !p.equals(us))
    // Members that served bytes not matching the agreed digest: not asked for the state again.
    const liars = new Set<string>()
    const backoff = new Backoff(this.options.retryMs, this.options.maxRetryMs)
    for (let round = 1; !signal.aborted; round++) {
      const answers: DigestAnswer[] = []
      let notHeld = 0
      await Promise.all(
        others.map(async (peer) => {
          try {
            const report = await this.source.digest(peer, position)
            if (report.status === 'ok') answers.push({ peer: peer.toString(), digest: report.digest })
            else if (report.status === 'unknown') notHeld++
          } catch (error) {
            if (!signal.aborted) this.events.failed(peer, error)
          }
        }),
      )
      if (signal.aborted) return undefined
      const agreed = agreedDigest(answers, names)
      // 'unknown' is for good: the member delivered past the checkpoint and no longer keeps it.
      if (agreed === undefined && others.length - notHeld < reportsNeeded(names.length)) {
        this.log('snapshot %d: %d of %d voters no longer hold it', position, notHeld, names.length)
        return { kind: 'gone' }
      }
      if (agreed !== undefined) {
        const from = this.shuffle(
          others.filter((p) => agreed.from.includes(p.toString()) && !liars.has(p.toString())),
        )
        for (const peer of from) {
          if (signal.aborted) return undefined
          const state = await this.fetchFrom(peer, position, agreed.digest, signal)
          if (state === undefined) continue
          if (!(await this.matches(state, agreed.digest))) {
            liars.add(peer.toString())
            this.events.mismatch(
              peer,
              `the state it served for checkpoint ${position} does not have the digest f+1 members reported`,
            )
            continue
          }
          if (signal.aborted) return undefined
          try {
            await this.hook.install(position, state)
          } catch (error) {
            // The application's own failure: asked again after the backoff, never a member's fault.
            this.log.error('the application failed to install the state at %d: %e', position, error)
            break
          }
          return { kind: 'installed', position, bytes: state.length, from: peer, digest: agreed.digest }
        }
      }
      const wait = backoff.fail('members')
      this.log(
        'snapshot %d, round %d: %d of %d voters answered, %s; again in %d ms',
        position,
        round,
        answers.length,
        names.length,
        agreed === undefined ? 'no digest reported by f+1 yet' : 'no member served a matching state',
        wait,
      )
      await pause(wait, signal)
    }
    return undefined
  }

  /** Whether `state` has `digest`; bytes the application cannot digest do not. */
  private async matches(state: Uint8Array, digest: Uint8Array): Promise<boolean> {
    try {
      const computed = await this.hook.digestOf(state)
      return computed instanceof Uint8Array && equals(computed, digest)
    } catch (error) {
      this.log('the application could not digest a fetched state: %s', (error as Error).message)
      return false
    }
  }

  private async fetchFrom(
    peer: PeerId,
    position: number,
    digest: Uint8Array,
    signal: AbortSignal,
  ): Promise<Uint8Array | undefined> {
    try {
      return await this.source.fetch(peer, position, digest)
    } catch (error) {
      if (!signal.aborted) this.events.failed(peer, error)
      return undefined
    }
  }
}

function shuffled<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j], items[i]]
  }
  return items
}
