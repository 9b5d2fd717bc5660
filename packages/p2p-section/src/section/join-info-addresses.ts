/**
 * Founders' addresses for joiners. A founder's agreed record carries no address (the genesis
 * record, whose hash is the section id, holds none), so a joiner that knows one member (its
 * bootstrap) had only the DHT to find the others, and a JoinRequest or Ready to a founder whose
 * lookup outlasted the stream's open timeout was lost: the candidate then waited for its
 * `candidateTimeoutMs` (60 s) before asking again (bench-live's join part: 10 of 12 joins). So a
 * member serving JoinInfo fills in the addresses it knows for members whose record has none, and
 * a joiner puts a JoinInfo's member addresses in its peer store. They are hints, like every
 * address here: a connection is authenticated by the peer id it names, whatever the address.
 */
import type { JoinInfo, MemberAddress } from '@parsec-section/membership'
import { decodeMessage, ed25519PeerIds, encodeMessage } from '@parsec-section/membership'
import type { PublicId } from '@parsec-section/parsec-core'

/** Addresses a member advertises at most (the wire's limit, `maxAddrs`). */
const MAX_ADDRS = 16
/** The longest address kept (the wire's `maxAddrBytes`). */
const MAX_ADDR_BYTES = 256

function decodeJoinInfo(bytes: Uint8Array): JoinInfo | undefined {
  try {
    const message = decodeMessage(bytes, ed25519PeerIds)
    return message.kind === 'joinInfo' ? message : undefined
  } catch {
    return undefined
  }
}

/** `bytes` (a JoinInfo we serve) with the addresses we know for members that have none. */
export async function withKnownAddresses(
  bytes: Uint8Array,
  addressesOf: (peer: PublicId) => Promise<readonly string[]>,
): Promise<Uint8Array> {
  const info = decodeJoinInfo(bytes)
  if (info === undefined || info.members.every((m) => m.addrs.length > 0)) return bytes
  const members: MemberAddress[] = []
  for (const member of info.members) {
    if (member.addrs.length > 0) members.push(member)
    else {
      const known = (await addressesOf(member.peer).catch(() => []))
        .filter((a) => a.length <= MAX_ADDR_BYTES)
        .slice(0, MAX_ADDRS)
      members.push({ peer: member.peer, addrs: known })
    }
  }
  return encodeMessage({ ...info, members })
}

/** The member addresses a JoinInfo names (none for another message). */
export function joinInfoAddresses(bytes: Uint8Array): readonly MemberAddress[] {
  return decodeJoinInfo(bytes)?.members ?? []
}
