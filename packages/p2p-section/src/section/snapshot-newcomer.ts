/**
 * The service's newcomer flow of the snapshot hook: when our engine starts at an epoch's start S
 * with nothing delivered before it (a joiner admitted after a checkpoint, or a member that rebased
 * after lagging by whole epochs), the journal holds the `block` events until the application's
 * state at S - 1 is installed (`SnapshotFetch`), then releases them in order. A later start (a
 * rebase while fetching) replaces the fetch under way. Crossing a checkpoint while fetching does
 * not: the blocks held since S cover the epoch crossed, and a fetch restarted at every crossing
 * never ends where an epoch takes less time than a fetch (a slow link, a busy machine, the
 * members' rate limits). Only once the state at S - 1 is gone at the members is the state at the
 * last checkpoint crossed fetched instead.
 */
import type { Logger, PeerId } from '@libp2p/interface'
import type { PublicId } from '@parsec-section/parsec-core'
import { peerIdFromPublicId } from '../identity.js'
import type { SnapshotStatus } from './api.js'
import type { Journal } from './journal.js'
import type { Reporter } from './reporter.js'
import type { SnapshotFetch } from './snapshot-fetch.js'
import type { Snapshots } from './snapshots.js'

interface EpochStartSeen {
  readonly start: number
  readonly voters: readonly PublicId[]
}

export class SnapshotNewcomer {
  private controller: AbortController | undefined
  private current: SnapshotStatus | undefined
  /** The last checkpoint crossed while fetching: where to start again if the state fetched is gone. */
  private crossedSince: EpochStartSeen | undefined
  /** The state fetched is gone and no later checkpoint was crossed yet: the next crossing restarts. */
  private stale = false

  constructor(
    private readonly fetch: Pick<SnapshotFetch, 'run'> | undefined,
    private readonly journal: Pick<Journal, 'hold' | 'release'>,
    private readonly snapshots: Pick<Snapshots, 'installed'>,
    private readonly reporter: Pick<Reporter, 'emit' | 'requestFailed'>,
    private readonly us: PeerId,
    private readonly log: Logger,
  ) {}

  /** `status().snapshot`: undefined unless we started at a checkpoint with a hook. */
  get status(): SnapshotStatus | undefined {
    return this.current
  }

  /**
   * Our engine starts at `start` (> 0) with nothing delivered: the state at `start - 1`, agreed by
   * f+1 of `voters` (the checkpoint's), is installed before any block event. Call before the first
   * flush that may deliver a block at `start`.
   */
  begin(start: number, voters: readonly PublicId[]): void {
    // Without a hook nothing changes (not even this mapping runs).
    if (this.fetch === undefined || start <= 0) return
    this.controller?.abort()
    const controller = new AbortController()
    this.controller = controller
    this.crossedSince = undefined
    this.stale = false
    const position = start - 1
    this.current = { state: 'fetching', position }
    this.journal.hold(start)
    this.log('fetching the application state at checkpoint %d before block %d', position, start)
    this.fetch
      .run(position, voters.map(peerIdFromPublicId), this.us, controller.signal)
      .then((installed) => {
        if (installed === undefined || controller.signal.aborted) return
        if (installed.kind === 'gone') {
          const later = this.crossedSince
          this.log('the state at %d is gone at the members: %s', position, later ? 'a later one' : 'waiting')
          if (later !== undefined) this.begin(later.start, later.voters)
          else this.stale = true
          return
        }
        this.controller = undefined
        this.crossedSince = undefined
        this.snapshots.installed(position, installed.digest)
        this.current = {
          state: 'installed',
          position,
          bytes: installed.bytes,
          from: installed.from.toString(),
        }
        this.log(
          'installed the application state at %d (%d bytes from %p)',
          position,
          installed.bytes,
          installed.from,
        )
        this.reporter.emit('snapshot:installed', {
          position,
          bytes: installed.bytes,
          from: installed.from,
        })
        this.journal.release()
      })
      .catch((error) => {
        // The application's install or digestOf threw: its blocks must not follow a state it lacks.
        this.log.error('installing the application state at %d failed: %e', position, error)
      })
  }

  /**
   * Our engine crossed a checkpoint (a switch to an epoch starting at `start`) while fetching: the
   * fetch goes on (the blocks held cover the epoch crossed), and this checkpoint is where to start
   * again should the state fetched be gone at the members (they keep the last two checkpoints'
   * states: a newcomer whose replay took a few epochs asks for one nobody holds any more).
   */
  crossed(start: number, voters: readonly PublicId[]): void {
    if (this.controller === undefined || this.current === undefined || start - 1 <= this.current.position)
      return
    if (this.stale) this.begin(start, voters)
    else this.crossedSince = { start, voters }
  }

  /** Asking or fetching from `peer` failed: a fault when its answer broke the protocol. */
  failed(peer: PeerId, error: unknown): void {
    this.reporter.requestFailed(peer, error, 'snapshot')
  }

  stop(): void {
    this.controller?.abort()
    this.controller = undefined
  }
}
