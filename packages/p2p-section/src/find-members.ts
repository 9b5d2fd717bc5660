/**
 * The joiner's `findMembers` (the membership machine's discovery directive): the section's
 * providers in the shared DHT, as engine ids the machine takes (`addContacts`). Provider records
 * are not authenticated, so these are only contacts to ask for JoinInfo: the machine verifies the
 * genesis record and membership chain they answer with against the section id.
 *
 * The DHT hands each provider's addresses to libp2p's peer store, and we merge them again (the DHT
 * may give them before its own write lands): the machine's JoinInfo requests then dial them by peer
 * id. Providers without an Ed25519 key (never a member) are skipped.
 */
import type { AbortOptions, ContentRouting, PeerId, PeerStore } from '@libp2p/interface'
import type { PublicId } from '@parsec-section/parsec-core'
import { publicIdFromPeerId } from './identity.js'
import { findSectionPeers } from './shared-dht.js'

export interface FindMembersComponents {
  readonly contentRouting: ContentRouting
  readonly peerStore?: Pick<PeerStore, 'merge'>
}

export interface FindMembersOptions extends AbortOptions {
  /** Left out of the answer (usually ourselves). */
  readonly exclude?: PeerId
  /** Stop after this many (the machine keeps at most `MAX_CONTACTS` contacts). */
  readonly limit?: number
}

/**
 * The section's providers found by `sectionId` alone, as engine ids (in the order found, each once).
 * Resolves with what was found when the lookup ends, reaches `limit` or `signal` aborts it (a lookup
 * cut short by its deadline is not an error: the joiner asks again later).
 */
export async function findMembers(
  components: FindMembersComponents,
  sectionId: string,
  options: FindMembersOptions = {},
): Promise<PublicId[]> {
  const { limit = Number.POSITIVE_INFINITY, ...routing } = options
  const found = new Map<string, PublicId>()
  try {
    for await (const provider of findSectionPeers(components.contentRouting, sectionId, routing)) {
      let id: PublicId
      try {
        id = publicIdFromPeerId(provider.id)
      } catch {
        continue
      }
      if (found.has(id.name)) continue
      found.set(id.name, id)
      if (components.peerStore !== undefined && provider.multiaddrs.length > 0) {
        await components.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs }).catch(() => {})
      }
      if (found.size >= limit) break
    }
  } catch (error) {
    if (options.signal?.aborted !== true) throw error
  }
  return [...found.values()]
}
