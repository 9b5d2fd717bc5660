/**
 * The DHT shared by every section (spec/MEMBERSHIP.md §3.1): one kad-dht protocol,
 * `/parsec-section/kad/1.0.0`, whatever the section, so that any peer of any section, or a peer of
 * none (`parsec-peer dht`), can serve it, and a joiner that knows only a section id and the address
 * of one such peer can find the section's members.
 *
 * Members `provide` their section's CID and joiners `findProviders` it. The CID is derived from the
 * section id alone: a CIDv1 with the `raw` codec (0x55) of the SHA-256 multihash of the UTF-8 bytes
 * of `parsec-section/v1/<section id>`, the section id in lowercase hex as everywhere else. Provider
 * records are not authenticated: whoever answers must still prove membership against the section id
 * (the genesis record and membership chain), and a lookup is only a hint of whom to ask.
 */
import { createHash } from 'node:crypto'
import type { AbortOptions, ContentRouting, PeerId, PeerInfo, RoutingOptions } from '@libp2p/interface'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { SECTION_CID_PREFIX, SHARED_DHT_PROTOCOL } from './constants.js'
import { SectionError } from './errors.js'

/**
 * The shared DHT service: a server on every peer (also on loopback and LAN addresses, which kad-dht
 * would otherwise drop), its first self-query at once rather than after a second.
 */
export function sharedDht(): ReturnType<typeof kadDHT> {
  return kadDHT({
    protocol: SHARED_DHT_PROTOCOL,
    clientMode: false,
    peerInfoMapper: passthroughMapper,
    initialQuerySelfInterval: 0,
  })
}

/** The CID members of section `sectionId` (64 hex digits) provide in the shared DHT. */
export function sectionCid(sectionId: string): CID {
  if (!/^[0-9a-f]{64}$/.test(sectionId)) {
    throw new SectionError('InvalidArgument', `a section id is 64 lowercase hex digits, not '${sectionId}'`)
  }
  const digest = createHash('sha256').update(`${SECTION_CID_PREFIX}${sectionId}`, 'utf8').digest()
  return CID.createV1(raw.code, createDigest(sha256.code, new Uint8Array(digest)))
}

/** What kad-dht reports to `onProgress` when a peer accepted one of our messages. */
interface PeerResponseProgress {
  readonly type: string
  readonly detail?: { readonly messageName?: string }
}

/**
 * Provides the section's CID (ourselves as a provider of it); resolves with the number of DHT peers
 * that took the record, 0 when none did (no DHT peer reachable yet: try again later). Throws what
 * libp2p throws, such as `NoContentRoutersError` on a node without a DHT.
 */
export async function provideSection(
  contentRouting: ContentRouting,
  sectionId: string,
  options: AbortOptions = {},
): Promise<number> {
  let stored = 0
  const routing: RoutingOptions = {
    ...options,
    onProgress: (event: PeerResponseProgress) => {
      if (event.type === 'kad-dht:query:peer-response' && event.detail?.messageName === 'ADD_PROVIDER')
        stored++
    },
  }
  await contentRouting.provide(sectionCid(sectionId), routing)
  return stored
}

/**
 * The peers the shared DHT knows as providers of the section's CID (members, if they are honest),
 * each once, with the addresses the DHT gave for it (libp2p also keeps them in the peer store).
 * `exclude` (usually ourselves) is left out. Ends when the lookup ends or `signal` aborts it (then
 * it throws the abort's error).
 */
export async function* findSectionPeers(
  contentRouting: ContentRouting,
  sectionId: string,
  options: AbortOptions & { readonly exclude?: PeerId } = {},
): AsyncGenerator<PeerInfo> {
  const { exclude, ...routing } = options
  for await (const provider of contentRouting.findProviders(sectionCid(sectionId), routing)) {
    if (exclude !== undefined && provider.id.equals(exclude)) continue
    yield provider
  }
}
