/**
 * A member's side of the snapshot hook (docs/epochs.md §4): at each checkpoint block it delivers,
 * right after that block's event, it asks the application for the digest of its state there and
 * keeps the digests of the last two checkpoints (a newcomer admitted just before the next
 * checkpoint still asks for the previous one). It answers newcomers' requests from them and from
 * the application's `state`. A newcomer that installed a state keeps its digest too: it serves it
 * like any member.
 */
import type { Logger } from '@libp2p/interface'
import type { SnapshotAnswer, SnapshotServerHost } from '../snapshot.js'
import type { SnapshotHook } from './api.js'

/** The checkpoints whose digests are kept. */
const KEPT = 2

/** A digest the application is computing (`value` undefined) or has computed. */
interface KeptDigest {
  value: Uint8Array | undefined
}

export class Snapshots implements SnapshotServerHost {
  private readonly digests = new Map<number, KeptDigest>()

  constructor(
    private readonly hook: SnapshotHook | undefined,
    private readonly maxStateBytes: number,
    /** The next position to deliver: a later checkpoint is `not-ready`, not `unknown`. */
    private readonly delivered: () => number,
    private readonly log: Logger,
  ) {}

  /** Called right after the `block` event of the checkpoint block at `position`. */
  checkpointDelivered(position: number): void {
    const hook = this.hook
    if (hook === undefined) return
    const kept: KeptDigest = { value: undefined }
    this.keep(position, kept)
    // Called now, whatever it returns: the application's state is the state at `position` now.
    let result: Uint8Array | Promise<Uint8Array>
    try {
      result = hook.digest(position)
    } catch (error) {
      this.log.error('the snapshot hook failed to digest checkpoint %d: %e', position, error)
      this.digests.delete(position)
      return
    }
    Promise.resolve(result).then(
      (digest) => {
        if (digest instanceof Uint8Array && digest.length > 0) kept.value = Uint8Array.from(digest)
        else this.digests.delete(position)
      },
      (error: unknown) => {
        this.log.error('the snapshot hook failed to digest checkpoint %d: %e', position, error)
        if (this.digests.get(position) === kept) this.digests.delete(position)
      },
    )
  }

  /** A newcomer installed the state at `position`, whose digest f+1 members reported. */
  installed(position: number, digest: Uint8Array): void {
    this.keep(position, { value: Uint8Array.from(digest) })
  }

  /** The digest kept for `position`, if computed. */
  digestAt(position: number): Uint8Array | undefined {
    return this.digests.get(position)?.value
  }

  private keep(position: number, kept: KeptDigest): void {
    this.digests.set(position, kept)
    const positions = [...this.digests.keys()].sort((a, b) => a - b)
    for (const old of positions.slice(0, Math.max(0, positions.length - KEPT))) this.digests.delete(old)
  }

  async answer(position: number, offset: number, maxBytes: number): Promise<SnapshotAnswer> {
    const hook = this.hook
    const kept = this.digests.get(position)
    if (hook === undefined) return { status: 'unknown' }
    if (kept === undefined) return { status: position >= this.delivered() ? 'not-ready' : 'unknown' }
    const digest = kept.value
    if (digest === undefined) return { status: 'not-ready' }
    if (maxBytes === 0) return { status: 'ok', digest, total: 0, data: new Uint8Array(0) }
    let state: Uint8Array | undefined
    try {
      state = await hook.state(position)
    } catch (error) {
      this.log.error('the snapshot hook failed to hand the state at %d: %e', position, error)
      return { status: 'unknown' }
    }
    if (!(state instanceof Uint8Array)) return { status: 'unknown' }
    if (state.length > this.maxStateBytes) return { status: 'too-large' }
    const from = Math.min(offset, state.length)
    return { status: 'ok', digest, total: state.length, data: state.subarray(from, from + maxBytes) }
  }
}
