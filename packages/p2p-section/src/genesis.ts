/**
 * The genesis of a section: its founding members, their addresses, its consensus mode. The
 * section id is the SHA-256 of the canonical record (members sorted by public key, related
 * info, mode; spec/MEMBERSHIP.md §3.1): self-certifying, so no peer can lie about the genesis
 * group, and another genesis is another section. Addresses are hints and not part of the id.
 */
import type { PeerId } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { genesisRecord, sectionIdOf as sectionIdOfRecord } from '@parsec-section/membership'
import { type ConsensusMode, compareIds, type PublicId } from '@parsec-section/parsec-core'
import { fromString as bytesFromString, toString as bytesToString } from 'uint8arrays'
import { SectionError } from './errors.js'
import { parsePeerId, publicIdFromPeerId } from './identity.js'

export interface GenesisMember {
  readonly peerId: PeerId
  readonly publicId: PublicId
  readonly addrs: readonly Multiaddr[]
}

export interface SectionGenesis {
  readonly members: readonly GenesisMember[]
  /** Single: a payload voted at any one member becomes a block; Supermajority: voted at >2/3. */
  readonly mode: ConsensusMode
  readonly relatedInfo: Uint8Array
  /** Lowercase hex SHA-256 of the canonical record. */
  readonly sectionId: string
}

/** The genesis file, as JSON (documented in the README). */
export interface GenesisFile {
  readonly version: 1
  readonly mode: ConsensusMode
  readonly members: readonly { readonly peerId: string; readonly addrs: readonly string[] }[]
  /** Hex; optional. */
  readonly relatedInfo?: string
}

export function createGenesis(
  members: readonly { peerId: PeerId; addrs?: readonly Multiaddr[] }[],
  mode: ConsensusMode = 'single',
  relatedInfo: Uint8Array = new Uint8Array(0),
): SectionGenesis {
  if (members.length === 0) throw new SectionError('InvalidGenesis', 'a genesis needs at least one member')
  const byKey = new Map<string, GenesisMember>()
  for (const { peerId, addrs } of members) {
    const publicId = publicIdFromPeerId(peerId)
    if (byKey.has(publicId.name)) {
      throw new SectionError('InvalidGenesis', `member ${peerId.toString()} is listed twice`)
    }
    byKey.set(publicId.name, { peerId, publicId, addrs: addrs ?? [] })
  }
  const sorted = [...byKey.values()].sort((a, b) => compareIds(a.publicId, b.publicId))
  return { members: sorted, mode, relatedInfo, sectionId: sectionIdOf(sorted, mode, relatedInfo) }
}

/** The section id (membership's `sectionIdOf`: SHA-256 of the canonical GenesisRecord), in hex. */
function sectionIdOf(
  members: readonly GenesisMember[],
  mode: ConsensusMode,
  relatedInfo: Uint8Array,
): string {
  const record = genesisRecord(
    members.map((m) => m.publicId),
    relatedInfo,
    mode,
  )
  return bytesToString(sectionIdOfRecord(record), 'base16')
}

export function genesisToFile(genesis: SectionGenesis): GenesisFile {
  return {
    version: 1,
    mode: genesis.mode,
    members: genesis.members.map((m) => ({
      peerId: m.peerId.toString(),
      addrs: m.addrs.map((a) => a.toString()),
    })),
    ...(genesis.relatedInfo.length > 0 ? { relatedInfo: bytesToString(genesis.relatedInfo, 'base16') } : {}),
  }
}

/** Parses and checks a genesis file's JSON text; every problem is a typed `InvalidGenesis`. */
export function parseGenesis(text: string): SectionGenesis {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new SectionError('InvalidGenesis', `the genesis file is not JSON: ${String(error)}`)
  }
  const file = json as Partial<GenesisFile> | null
  if (file === null || typeof file !== 'object' || Array.isArray(file)) {
    throw new SectionError('InvalidGenesis', 'the genesis file must hold a JSON object')
  }
  if (file.version !== 1)
    throw new SectionError('InvalidGenesis', `unsupported genesis version ${String(file.version)}`)
  if (file.mode !== 'single' && file.mode !== 'supermajority') {
    throw new SectionError(
      'InvalidGenesis',
      `mode must be "single" or "supermajority", not ${JSON.stringify(file.mode)}`,
    )
  }
  if (!Array.isArray(file.members)) throw new SectionError('InvalidGenesis', 'members must be an array')
  const members = file.members.map((entry, i) => {
    if (entry === null || typeof entry !== 'object' || typeof entry.peerId !== 'string') {
      throw new SectionError('InvalidGenesis', `member ${i} needs a "peerId" string`)
    }
    const addrs = entry.addrs ?? []
    if (!Array.isArray(addrs) || addrs.some((a) => typeof a !== 'string')) {
      throw new SectionError('InvalidGenesis', `member ${i}: "addrs" must be an array of multiaddr strings`)
    }
    let peerId: PeerId
    let parsed: Multiaddr[]
    try {
      peerId = parsePeerId(entry.peerId)
      parsed = addrs.map((a) => multiaddr(a))
    } catch (error) {
      throw new SectionError(
        'InvalidGenesis',
        `member ${i}: ${error instanceof Error ? error.message : String(error)}`,
      )
    }
    return { peerId, addrs: parsed }
  })
  let relatedInfo = new Uint8Array(0)
  if (file.relatedInfo !== undefined) {
    if (typeof file.relatedInfo !== 'string' || !/^([0-9a-f]{2})*$/i.test(file.relatedInfo)) {
      throw new SectionError('InvalidGenesis', 'relatedInfo must be a hex string')
    }
    relatedInfo = bytesFromString(file.relatedInfo.toLowerCase(), 'base16')
  }
  try {
    return createGenesis(members, file.mode, relatedInfo)
  } catch (error) {
    if (error instanceof SectionError) throw error
    throw new SectionError('InvalidGenesis', error instanceof Error ? error.message : String(error))
  }
}
