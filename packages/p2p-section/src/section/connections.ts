/**
 * The members we are connected to: libp2p's connection events, kept for members of the roster
 * only. Pacing counts them as live voters, discovery leaves them alone, and a new connection to a
 * member is a partner worth gossiping to soon.
 */
import type { Libp2pEvents, PeerId, Startable, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { Reporter } from './reporter.js'
import type { Roster, RosterChange } from './roster.js'

export interface ConnectionsComponents {
  events: TypedEventTarget<Libp2pEvents>
  connectionManager: Pick<ConnectionManager, 'getConnections'>
}

export interface ConnectionHandlers {
  /** A member connected (before `peer:connected` is dispatched). */
  connected(peer: PeerId): void
  /** A member disconnected (before `peer:disconnected` is dispatched). */
  disconnected(peer: PeerId): void
}

export class Connections implements Startable {
  private readonly connected = new Set<string>()
  private started = false
  private following = false

  constructor(
    private readonly components: ConnectionsComponents,
    private readonly roster: Roster,
    private readonly reporter: Reporter,
    private readonly handlers: ConnectionHandlers,
  ) {}

  isStarted(): boolean {
    return this.started
  }

  /** Follows the roster: a member added is counted if connected; a removed one is forgotten. */
  private readonly onRosterChange = (change: RosterChange): void => {
    if (!this.started) return
    for (const member of change.removed) {
      this.onDisconnect(new CustomEvent('peer:disconnect', { detail: member.peerId }))
    }
    for (const member of change.added) {
      if (this.components.connectionManager.getConnections(member.peerId).length > 0) {
        this.onConnect(new CustomEvent('peer:connect', { detail: member.peerId }))
      }
    }
  }

  /** Listens for connections, and counts those already open. */
  start(): void {
    if (!this.following) {
      this.roster.onChange(this.onRosterChange)
      this.following = true
    }
    this.components.events.addEventListener('peer:connect', this.onConnect)
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect)
    for (const connection of this.components.connectionManager.getConnections()) {
      this.onConnect(new CustomEvent('peer:connect', { detail: connection.remotePeer }))
    }
    this.started = true
  }

  stop(): void {
    this.started = false
    this.components.events.removeEventListener('peer:connect', this.onConnect)
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect)
  }

  has(peer: PeerId | string): boolean {
    return this.connected.has(peer.toString())
  }

  /** The connected members' peer ids. */
  list(): string[] {
    return [...this.connected]
  }

  private readonly onConnect = (event: CustomEvent<PeerId>): void => {
    const key = event.detail.toString()
    if (this.roster.memberOf(key) === undefined || this.connected.has(key)) return
    this.connected.add(key)
    this.handlers.connected(event.detail)
    this.reporter.emit('peer:connected', event.detail)
  }

  private readonly onDisconnect = (event: CustomEvent<PeerId>): void => {
    const key = event.detail.toString()
    if (!this.connected.delete(key)) return
    this.handlers.disconnected(event.detail)
    this.reporter.emit('peer:disconnected', event.detail)
  }
}
