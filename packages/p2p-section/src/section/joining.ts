/**
 * A joiner's side of the service (MEMBERSHIP.md §3), carrying out its membership machine's
 * directives over libp2p, as the simulation's host does for simulated peers:
 *
 * - contacts: the bootstrap addresses are dialled (with or without `/p2p/`: the connection names
 *   the peer) and each peer reached is given to the machine (`addContacts`), which asks it for
 *   JoinInfo; unreachable ones are dialled again on a capped backoff, and all of them again when
 *   the machine asks to `findMembers`;
 * - `construct`: our engine is built as an observer (`Parsec.fromExisting`, through the journal's
 *   restore) from the genesis group and the members of the chain the machine verified;
 * - `catchUp`: paged pulls from that member (catchup.ts, served to us once it admitted us), again
 *   and again until our Add is replayed: the events are ingested (no event of ours, no vote) and go
 *   through the journal, so the blocks they decide are delivered from position 0 and folded by the
 *   machine like any member's; a failed pull is a transport hint (the machine picks another
 *   admitter);
 * - `self:joined`: the pulls stop, the service runs (gossip, votes, `ready()`).
 */
import type { Libp2pEvents, Logger, PeerId, PeerStore, Startable, TypedEventTarget } from '@libp2p/interface'
import type { AddressManager, ConnectionManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { GenesisRecord } from '@parsec-section/membership'
import type { PublicId } from '@parsec-section/parsec-core'
import * as C from '../constants.js'
import { isSectionError, SectionError } from '../errors.js'
import { peerIdFromPublicId, publicIdFromPeerId } from '../identity.js'
import type { EpochStart } from './epoch-switch.js'
import type { Epochs } from './epochs.js'
import type { Lifecycle } from './lifecycle.js'
import type { JoinDirectives } from './membership-host.js'
import type { Pacing } from './pacing.js'
import type { Puller } from './puller.js'
import type { Roster } from './roster.js'

export interface JoiningComponents {
  connectionManager: Pick<ConnectionManager, 'openConnection'>
  peerStore: Pick<PeerStore, 'merge'>
  addressManager: Pick<AddressManager, 'getAddresses' | 'getListenAddrs'>
  events: TypedEventTarget<Libp2pEvents>
}

export interface JoiningParts {
  readonly lifecycle: Lifecycle
  readonly roster: Roster
  readonly pacing: Pacing
  readonly puller: Puller
  readonly epochs: Epochs
}

/** What joining asks of the service and its membership machine. */
export interface JoiningHooks {
  /** Starts the membership machine (once we listen: our ticket carries our addresses). */
  begin(): void
  /** Peers reached through the bootstrap addresses, for the machine. */
  addContacts(ids: readonly PublicId[]): void
  /** Our catch-up server failed. */
  transportFailed(id: PublicId): void
  /**
   * Builds (or restores) our engine as a joiner, in `epoch` (the one the verified chain ends in);
   * it becomes `lifecycle.engine`.
   */
  build(
    genesis: readonly PublicId[],
    section: readonly PublicId[],
    record: GenesisRecord,
    epoch: EpochStart,
  ): Promise<void>
  /** Our replay crossed a checkpoint: our observer engine starts again in the next epoch. */
  crossed(next: EpochStart, section: readonly PublicId[]): void
  /** We joined: what a member runs beside gossip (discovery), by the genesis record we verified. */
  joined(record: GenesisRecord): void
}

export interface JoiningOptions {
  readonly bootstrap: readonly Multiaddr[]
  /** The wait between two pulls once a pull found nothing more (the section moves on meanwhile). */
  readonly pullIntervalMs: number
  /** First and longest wait before a bootstrap address or a failed pull is tried again. */
  readonly retryMs: number
  readonly maxRetryMs: number
}

export class Joining implements Startable, JoinDirectives {
  private started = false
  /** We join (`begin`): not a founder nor a peer that joined earlier. */
  private joiner = false
  /** We joined. */
  private done = false
  private server: PublicId | undefined
  private building: Promise<void> | undefined
  private record: GenesisRecord | undefined
  private pulling = false
  private dialing = false
  /** The machine started. */
  private begun = false
  private readonly controller = new AbortController()

  constructor(
    private readonly components: JoiningComponents,
    private readonly parts: JoiningParts,
    private readonly hooks: JoiningHooks,
    private readonly options: JoiningOptions,
    private readonly log: Logger,
  ) {}

  isStarted(): boolean {
    return this.started
  }

  /** Whether we are joining (the service does not run as a member yet). */
  get active(): boolean {
    return this.joiner && !this.done && !this.controller.signal.aborted
  }

  /** We join (the service starts without an engine). */
  begin(): void {
    this.joiner = true
  }

  /**
   * Once libp2p started: as soon as it listens (its transports start listening beside us), the
   * machine starts and the bootstrap addresses are dialled.
   */
  start(): void {
    if (this.started || !this.active) return
    this.started = true
    const { addressManager, events } = this.components
    const go = (): void => {
      if (this.begun || !this.active) return
      this.begun = true
      events.removeEventListener('self:peer:update', check)
      clearTimeout(fallback)
      this.hooks.begin()
      this.findMembers()
    }
    const check = (): void => {
      if (addressManager.getAddresses().length > 0) go()
    }
    // No listen address at all (a dial-only joiner), or none after a while: go without any.
    const fallback = setTimeout(
      go,
      addressManager.getListenAddrs().length === 0 ? 0 : this.options.maxRetryMs,
    )
    fallback.unref?.()
    this.controller.signal.addEventListener('abort', () => {
      clearTimeout(fallback)
      events.removeEventListener('self:peer:update', check)
    })
    events.addEventListener('self:peer:update', check)
    check()
  }

  stop(): void {
    this.started = false
    this.controller.abort()
  }

  // ---------------------------------------------------------------- the machine's directives

  construct(
    genesis: readonly PublicId[],
    section: readonly PublicId[],
    record: GenesisRecord,
    epoch: EpochStart,
  ): void {
    if (this.building !== undefined) {
      // Built already: our replay crossed a checkpoint (the machine's construct for the next epoch).
      void this.building.then(() => {
        if (epoch.epoch > this.parts.epochs.current) this.hooks.crossed(epoch, section)
      })
      return
    }
    this.record = record
    const { lifecycle, roster } = this.parts
    this.building = this.hooks.build(genesis, section, record, epoch).then(
      () => {
        roster.adopt(section)
        if (lifecycle.state === 'checking') lifecycle.state = 'catching-up'
        this.log('admitted: replaying the section from genesis (%d members)', section.length)
      },
      (error: unknown) => {
        lifecycle.fail(
          isSectionError(error)
            ? error
            : new SectionError('StorageMismatch', `cannot build the engine: ${(error as Error).message}`),
        )
      },
    )
  }

  catchUp(from: PublicId): void {
    this.server = from
    if (this.active) void this.pullLoop()
  }

  findMembers(): void {
    if (this.active && this.begun) void this.dialBootstrap()
  }

  joined(): void {
    if (this.done) return
    this.done = true
    this.server = undefined
    const { lifecycle, pacing } = this.parts
    if (lifecycle.failure !== undefined || !lifecycle.started) return
    lifecycle.state = 'running'
    pacing.start()
    pacing.nudge(true)
    lifecycle.resolveReady()
    if (this.record !== undefined) this.hooks.joined(this.record)
    this.log('joined the section')
  }

  // ---------------------------------------------------------------- contacts

  /** Dials every bootstrap address; the peers reached are contacts; the others are tried again. */
  private async dialBootstrap(): Promise<void> {
    if (this.dialing) return
    this.dialing = true
    try {
      let left = [...this.options.bootstrap]
      let wait = this.options.retryMs
      while (left.length > 0 && this.active) {
        const reached: PublicId[] = []
        const failed: Multiaddr[] = []
        await Promise.all(
          left.map(async (addr) => {
            const peer = await this.dial(addr)
            if (peer === undefined) failed.push(addr)
            else reached.push(publicIdFromPeerId(peer))
          }),
        )
        if (reached.length > 0) this.hooks.addContacts(reached)
        left = failed
        if (left.length === 0 || !(await this.sleep(wait))) return
        wait = Math.min(2 * wait, this.options.maxRetryMs)
      }
    } finally {
      this.dialing = false
    }
  }

  /** The Ed25519 peer at `addr`, or undefined (unreachable, or not a possible member). */
  private async dial(addr: Multiaddr): Promise<PeerId | undefined> {
    try {
      const connection = await this.components.connectionManager.openConnection(addr, {
        signal: AbortSignal.any([this.controller.signal, AbortSignal.timeout(C.OPEN_STREAM_TIMEOUT_MS)]),
      })
      const peer = connection.remotePeer
      if (peer.type !== 'Ed25519') {
        this.log('bootstrap %a is %p, not an Ed25519 peer: never a member', addr, peer)
        return undefined
      }
      // Where to dial it again (a connection may close before the machine writes to it).
      const bare = addr.getComponents().some((c) => c.name === 'p2p') ? addr.decapsulateCode(421) : addr
      await this.components.peerStore.merge(peer, { multiaddrs: [bare] }).catch(() => {})
      return peer
    } catch (error) {
      this.log('bootstrap %a not reached: %s', addr, (error as Error).message)
      return undefined
    }
  }

  // ---------------------------------------------------------------- catch-up

  /** Pulls from our server until we joined; a failed pull tells the machine and waits. */
  private async pullLoop(): Promise<void> {
    if (this.pulling) return
    this.pulling = true
    try {
      let wait = this.options.retryMs
      while (this.active && this.server !== undefined) {
        await this.building
        const { lifecycle, puller } = this.parts
        if (lifecycle.engine === undefined || lifecycle.failure !== undefined) return
        const server = this.server
        const ok = await puller.pull(peerIdFromPublicId(server), server)
        if (!this.active) return
        if (ok) {
          wait = this.options.retryMs
          if (!(await this.sleep(this.options.pullIntervalMs))) return
          continue
        }
        this.hooks.transportFailed(server)
        if (!(await this.sleep(wait))) return
        wait = Math.min(2 * wait, this.options.maxRetryMs)
      }
    } finally {
      this.pulling = false
    }
  }

  /** Waits `ms`; false if joining ended meanwhile. */
  private sleep(ms: number): Promise<boolean> {
    const signal = this.controller.signal
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve(false)
        return
      }
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve(this.active)
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done)
    })
  }
}
