/**
 * Who the section's members are, for everything the service does with peers: whose sync and
 * catch-up streams we accept, whom we gossip to, which voters count as live, how an engine name
 * maps to a peer, and where members are reached. It is the one place the service asks, so that
 * following the agreed SectionState instead of the genesis starts here.
 *
 * The member records start as the genesis group's (a founder) or empty (a joiner), are set to the
 * members a joiner's verified chain names when its engine is built (`adopt`), and then follow the
 * agreed SectionState (`follow`, fed by the membership host after every fold of a member): members
 * added later are gossiped to and their streams accepted, removed ones are refused (quietly:
 * `wasMember`), addresses come from the agreed admission records (founders: their genesis
 * addresses). Each change is signalled to the listeners (`onChange`: connections, the peer store);
 * the voters and gossip recipients are the engine's, matched to these records.
 *
 * Beside the members, the candidates the membership machine admitted (`acceptSync`): guests whose
 * catch-up pulls we serve while they replay the section's history, before their Add is agreed.
 * And the machine's partner weights (`partnerWeight`), which the gossip partners carry.
 */
import type { PeerId, PeerStore, Startable } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { SectionState } from '@parsec-section/membership'
import { compareIds, type Parsec, type PublicId } from '@parsec-section/parsec-core'
import type { GenesisMember } from '../genesis.js'
import { peerIdFromPublicId, publicIdFromPeerId } from '../identity.js'

/** A member: its libp2p peer id, its engine id, the addresses it is known by. */
export type RosterMember = GenesisMember

export interface RosterComponents {
  peerId: PeerId
  peerStore: Pick<PeerStore, 'merge'> & Partial<Pick<PeerStore, 'get'>>
}

/** Members added and removed by one agreed change of the roster. */
export interface RosterChange {
  readonly added: readonly RosterMember[]
  readonly removed: readonly RosterMember[]
}

/** A member the engine lets us gossip to now, with the machine's partner weight for it. */
export interface GossipPartner {
  readonly id: PublicId
  readonly peerId: PeerId
  /** How often to choose it relative to the others (partner-choice.ts); 1 unless the machine said. */
  readonly weight: number
}

export class Roster implements Startable {
  private records: readonly RosterMember[]
  private byPeer = new Map<string, RosterMember>()
  private byName = new Map<string, RosterMember>()
  /** Peers that were members and were removed (their streams are refused without blame). */
  private readonly former = new Set<string>()
  private readonly genesisAddrs = new Map<string, readonly Multiaddr[]>()
  private readonly listeners: ((change: RosterChange) => void)[] = []
  /** Admitted candidates (by peer id) whose catch-up pulls we serve. */
  private readonly guests = new Map<string, PublicId>()
  /** Candidates we forgot (timed out): their pulls are refused without blame (the latest 1,024). */
  private readonly formerGuests = new Set<string>()
  /** The machine's partner weights, by engine name (a member it never weighed: 1). */
  private readonly weights = new Map<string, number>()
  private started = false

  constructor(
    private readonly components: RosterComponents,
    genesis: readonly RosterMember[],
    private readonly engine: () => Parsec | undefined,
  ) {
    for (const member of genesis) this.genesisAddrs.set(member.publicId.name, member.addrs)
    this.records = genesis
    this.index()
  }

  private index(): void {
    this.byPeer = new Map(this.records.map((member) => [member.peerId.toString(), member]))
    this.byName = new Map(this.records.map((member) => [member.publicId.name, member]))
  }

  isStarted(): boolean {
    return this.started
  }

  /** Puts the members' known addresses in the peer store, where dials and discovery find them. */
  async start(): Promise<void> {
    await this.remember(this.records)
    this.started = true
  }

  stop(): void {
    this.started = false
  }

  /** Called with every agreed change of the members (after the records are updated). */
  onChange(listener: (change: RosterChange) => void): void {
    this.listeners.push(listener)
  }

  /**
   * The members become the agreed state's: its members in engine id order, each with the
   * addresses of its admission record (a founder without any: its genesis addresses).
   */
  follow(state: SectionState): void {
    const next: RosterMember[] = []
    for (const record of state.members()) {
      const known = this.byName.get(record.id.name)
      const addrs = parseAddrs(record.addrs)
      if (known !== undefined && (addrs.length === 0 || sameAddrs(known.addrs, addrs))) {
        next.push(known)
        continue
      }
      const peerId = known?.peerId ?? peerIdFromPublicId(record.id)
      const publicId = known?.publicId ?? publicIdFromPeerId(peerId)
      next.push({
        peerId,
        publicId,
        addrs: addrs.length > 0 ? addrs : (this.genesisAddrs.get(record.id.name) ?? []),
      })
    }
    next.sort((a, b) => compareIds(a.publicId, b.publicId))
    const names = new Set(next.map((member) => member.publicId.name))
    const added = next.filter((member) => !this.byName.has(member.publicId.name))
    const removed = this.records.filter((member) => !names.has(member.publicId.name))
    if (added.length === 0 && removed.length === 0 && next.every((m, i) => m === this.records[i])) return
    this.records = next
    this.index()
    for (const member of removed) {
      this.former.add(member.peerId.toString())
      this.weights.delete(member.publicId.name)
    }
    for (const member of added) {
      this.former.delete(member.peerId.toString())
      this.guests.delete(member.peerId.toString())
      this.formerGuests.delete(member.peerId.toString())
    }
    void this.remember(added).catch(() => {})
    if (added.length === 0 && removed.length === 0) return
    for (const listener of this.listeners) listener({ added, removed })
  }

  /**
   * A joiner's engine is built: the members its verified chain names (no addresses: those we know
   * are in the peer store already) until it follows the agreed state of its own blocks.
   */
  adopt(ids: readonly PublicId[]): void {
    const us = publicIdFromPeerId(this.components.peerId).name
    const next = ids
      .filter((id) => id.name !== us)
      .map((id) => this.byName.get(id.name) ?? { peerId: peerIdFromPublicId(id), publicId: id, addrs: [] })
      .sort((a, b) => compareIds(a.publicId, b.publicId))
    const names = new Set(next.map((member) => member.publicId.name))
    const added = next.filter((member) => !this.byName.has(member.publicId.name))
    const removed = this.records.filter((member) => !names.has(member.publicId.name))
    this.records = next
    this.index()
    if (added.length === 0 && removed.length === 0) return
    for (const listener of this.listeners) listener({ added, removed })
  }

  /**
   * The agreed addresses of the members a joiner's verified chain names (it writes to them before
   * its engine is built), into the peer store.
   */
  async hint(state: SectionState): Promise<void> {
    for (const record of state.members()) {
      const addrs = parseAddrs(record.addrs)
      const peerId = peerIdFromPublicId(record.id)
      if (addrs.length === 0 || peerId.equals(this.components.peerId)) continue
      await this.components.peerStore.merge(peerId, { multiaddrs: addrs })
    }
  }

  /** The addresses our peer store holds for `id` (to fill in a JoinInfo, join-info-addresses.ts). */
  async addressesOf(id: PublicId): Promise<string[]> {
    const peerId = peerIdFromPublicId(id)
    const { peerStore } = this.components
    if (peerId.equals(this.components.peerId) || peerStore.get === undefined) return []
    try {
      const peer = await peerStore.get(peerId)
      return peer.addresses.map((a) => a.multiaddr.toString())
    } catch {
      return [] // Not in the peer store.
    }
  }

  /** Addresses a JoinInfo named for its members: hints for our dials (a joiner's, before it is in). */
  async hintAddresses(
    members: readonly { readonly peer: PublicId; readonly addrs: readonly string[] }[],
  ): Promise<void> {
    for (const member of members) {
      const addrs = parseAddrs(member.addrs)
      const peerId = peerIdFromPublicId(member.peer)
      if (addrs.length === 0 || peerId.equals(this.components.peerId)) continue
      await this.components.peerStore.merge(peerId, { multiaddrs: addrs })
    }
  }

  /** The machine's partner weight for a member (by engine name): how often we gossip to it. */
  weigh(name: string, weight: number): void {
    this.weights.set(name, weight)
  }

  /** The membership machine admitted (or forgot) a candidate: serve its catch-up pulls (or stop). */
  accept(peer: PeerId, id: PublicId, accept: boolean): void {
    const key = peer.toString()
    if (accept) {
      this.guests.set(key, id)
      this.formerGuests.delete(key)
    } else if (this.guests.delete(key)) {
      this.formerGuests.add(key)
      if (this.formerGuests.size > 1024)
        this.formerGuests.delete(this.formerGuests.values().next().value as string)
    }
  }

  /** An admitted candidate's engine id (whose catch-up pulls we serve); undefined for anyone else. */
  guestOf(peer: PeerId | string): PublicId | undefined {
    return this.guests.get(peer.toString())
  }

  /**
   * Whether a peer was a member and was removed, or a candidate we forgot (not a stranger: no
   * fault for its streams).
   */
  wasMember(peer: PeerId | string): boolean {
    return this.former.has(peer.toString()) || this.formerGuests.has(peer.toString())
  }

  /** Whether a peer was a member and was removed (a candidate we forgot is not: it never voted). */
  wasVoter(peer: PeerId | string): boolean {
    return this.former.has(peer.toString())
  }

  private async remember(members: readonly RosterMember[]): Promise<void> {
    for (const member of members) {
      if (member.peerId.equals(this.components.peerId) || member.addrs.length === 0) continue
      await this.components.peerStore.merge(member.peerId, { multiaddrs: [...member.addrs] })
    }
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
      if (member !== undefined)
        partners.push({ id, peerId: member.peerId, weight: this.weights.get(id.name) ?? 1 })
    }
    return partners
  }

  /** Whether the engine still lets us gossip to the member with this engine name. */
  isGossipPartner(name: string): boolean {
    return (this.engine()?.gossipRecipients() ?? []).some((id) => id.name === name)
  }
}

/** Agreed addresses (strings of an admission record); one that does not parse is skipped. */
function parseAddrs(addrs: readonly string[]): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const text of addrs) {
    try {
      out.push(multiaddr(text))
    } catch {
      // An agreed record is a hint like any address: a bad one is not ours to reject.
    }
  }
  return out
}

function sameAddrs(a: readonly Multiaddr[], b: readonly Multiaddr[]): boolean {
  return a.length === b.length && a.every((addr, i) => addr.equals(b[i]))
}
