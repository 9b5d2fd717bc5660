/**
 * A member's announcement on the section's gossipsub topic: the membership machine's signed
 * `Announce` (`@parsec-section/membership` wire: section id, the member's engine id, the addresses it
 * advertises, and the `seq` and `head` of its membership chain), published as is. Gossipsub signs
 * and attributes every message too; the topic validator below checks both and the roster.
 *
 * Verdicts (gossipsub scores the forwarder of a rejected message down, and forwards only accepted
 * ones):
 * - `reject`: unsigned or anonymous, not an Announce of this section, malformed, its engine id is
 *   not the publisher's, a bad signature, or a publisher that is no member of the agreed roster
 *   while its chain is no further than ours;
 * - `ignore`: a publisher outside our roster whose chain is further than ours (perhaps added by a
 *   change we have not folded yet: we cannot tell, so we neither forward nor blame), and a former
 *   member (its last announcements may still be on their way through honest members);
 * - `accept`: a member's well-signed announcement.
 */
import type { PeerId } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { type Announce, decodeMessageOf, ed25519PeerIds, verifyAnnounce } from '@parsec-section/membership'
import { equals as bytesEqual } from 'uint8arrays'
import { publicIdFromPeerId } from './identity.js'

export type AnnouncementVerdict = 'accept' | 'ignore' | 'reject'

/** What the validator asks of the section. */
export interface AnnouncementContext {
  /** The section id's 32 bytes (the genesis record's hash). */
  readonly sectionId: Uint8Array
  /** Whether the peer is a member of the agreed roster. */
  isMember(peer: PeerId): boolean
  /** Whether the peer was a member and was removed. */
  wasMember(peer: PeerId): boolean
  /** The `seq` of our membership chain (undefined before the machine runs). */
  chainSeq(): number | undefined
}

/** The message as gossipsub hands it to a topic validator (its `SignedMessage` or `UnsignedMessage`). */
export interface AnnouncementMessage {
  readonly type: 'signed' | 'unsigned'
  readonly data: Uint8Array
  readonly from?: PeerId
}

export interface CheckedAnnouncement {
  readonly verdict: AnnouncementVerdict
  /** Why, for the log (not for `accept`). */
  readonly reason?: string
  /** The decoded announcement (an `accept`ed or `ignore`d one). */
  readonly announce?: Announce
}

export function checkAnnouncement(
  message: AnnouncementMessage,
  context: AnnouncementContext,
): CheckedAnnouncement {
  const from = message.from
  if (message.type !== 'signed' || from === undefined) return { verdict: 'reject', reason: 'not signed' }
  let announce: Announce
  try {
    announce = decodeMessageOf(message.data, 'announce', ed25519PeerIds)
  } catch (error) {
    return { verdict: 'reject', reason: `malformed: ${(error as Error).message}` }
  }
  if (!bytesEqual(announce.sectionId, context.sectionId))
    return { verdict: 'reject', reason: 'another section' }
  let publisher: string
  try {
    publisher = publicIdFromPeerId(from).name
  } catch {
    return { verdict: 'reject', reason: 'publisher without an Ed25519 key' }
  }
  if (announce.peer.name !== publisher) return { verdict: 'reject', reason: 'not the publisher' }
  if (!verifyAnnounce(announce)) return { verdict: 'reject', reason: 'bad signature' }
  if (context.isMember(from)) return { verdict: 'accept', announce }
  if (context.wasMember(from)) return { verdict: 'ignore', reason: 'a former member', announce }
  const ours = context.chainSeq()
  if (ours !== undefined && announce.seq > ours) {
    return {
      verdict: 'ignore',
      reason: `not a member at seq ${ours} (announced at ${announce.seq})`,
      announce,
    }
  }
  return { verdict: 'reject', reason: 'not a member' }
}

/**
 * The announced addresses that parse, each without the `/p2p/<publisher>` suffix (the peer store
 * keys them by peer already); at most `max`.
 */
export function announcedAddrs(announce: Announce, publisher: PeerId, max: number): Multiaddr[] {
  const suffix = `/p2p/${publisher.toString()}`
  const out: Multiaddr[] = []
  for (const text of announce.addrs) {
    if (out.length >= max) break
    try {
      out.push(multiaddr(text.endsWith(suffix) ? text.slice(0, -suffix.length) : text))
    } catch {
      // A signed hint like any address: one that does not parse is skipped.
    }
  }
  return out
}
