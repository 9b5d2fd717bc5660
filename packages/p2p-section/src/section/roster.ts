/**
 * Who the section's members are, for everything the service does with peers: whose sync and
 * catch-up streams we accept, whom we gossip to, which voters count as live, how an engine name
 * maps to a peer, and where members are reached. It is the one place the service asks, so that
 * following the agreed SectionState instead of the genesis starts here.
 *
 * Today the member records are the genesis group's (peer id, engine id, genesis addresses, put in
 * the peer store once at start), and the voters and gossip recipients are the engine's, matched
 * to those records.
 */
import type { PeerId, PeerStore, Startable } from '@libp2p/interface'
import type { Parsec, PublicId } from '@parsec-section/parsec-core'
import type { GenesisMember } from '../genesis.js'

/** A member: its libp2p peer id, its engine id, the addresses it is known by. */
export type RosterMember = GenesisMember

export interface RosterComponents {
  peerId: PeerId
  peerStore: Pick<PeerStore, 'merge'>
}

/** A member the engine lets us gossip to now. */
export interface GossipPartner {
  readonly id: PublicId
  readonly peerId: PeerId
}

export class Roster implements Startable {
  private readonly byPeer = new Map<string, RosterMember>()
  private readonly byName = new Map<string, RosterMember>()
  private started = false

  constructor(
    private readonly components: RosterComponents,
    private readonly records: readonly RosterMember[],
    private readonly engine: () => Parsec | undefined,
  ) {
    for (const member of records) {
      this.byPeer.set(member.peerId.toString(), member)
      this.byName.set(member.publicId.name, member)
    }
  }

  isStarted(): boolean {
    return this.started
  }

  /** Puts the members' known addresses in the peer store, where dials and discovery find them. */
  async start(): Promise<void> {
    for (const member of this.records) {
      if (member.peerId.equals(this.components.peerId) || member.addrs.length === 0) continue
      await this.components.peerStore.merge(member.peerId, { multiaddrs: [...member.addrs] })
    }
    this.started = true
  }

  stop(): void {
    this.started = false
  }

  /** Every member, in engine id order. */
  members(): readonly RosterMember[] {
    return this.records
  }

  /** Every member but us. */
  others(): RosterMember[] {
    return this.records.filter((member) => !member.peerId.equals(this.components.peerId))
  }

  /** The member a peer is (whose streams we accept); undefined for a non-member. */
  memberOf(peer: PeerId | string): RosterMember | undefined {
    return this.byPeer.get(peer.toString())
  }

  /** A member's engine id by engine name (hex public key): how received events name creators. */
  readonly resolve = (name: string): PublicId | undefined => this.byName.get(name)?.publicId

  /** The peer id of the member with this engine name. */
  peerIdOf(name: string): PeerId | undefined {
    return this.byName.get(name)?.peerId
  }

  /** The voters: whose events decide (the engine's current voters). */
  voters(): readonly PublicId[] {
    return this.engine()?.voters() ?? []
  }

  /** The members we may gossip to now: the engine's recipients that we know as members. */
  gossipPartners(): GossipPartner[] {
    const partners: GossipPartner[] = []
    for (const id of this.engine()?.gossipRecipients() ?? []) {
      const member = this.byName.get(id.name)
      if (member !== undefined) partners.push({ id, peerId: member.peerId })
    }
    return partners
  }

  /** Whether the engine still lets us gossip to the member with this engine name. */
  isGossipPartner(name: string): boolean {
    return (this.engine()?.gossipRecipients() ?? []).some((id) => id.name === name)
  }
}
