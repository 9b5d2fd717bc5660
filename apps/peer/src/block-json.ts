/**
 * The JSON form of a delivered block in the control API and the logs: peers named by their libp2p
 * peer ids (the engine names them by hex Ed25519 public keys), opaque payloads as hex plus UTF-8
 * text when printable.
 */

import { type DeliveredBlock, peerIdFromPublicId } from '@parsec-section/p2p-section'
import type { PublicId } from '@parsec-section/parsec-core'

export interface BlockJson {
  readonly position: number
  readonly kind: 'genesis' | 'add' | 'remove' | 'accusation' | 'opaque' | 'checkpoint'
  /** Opaque and checkpoint blocks: the payload as lowercase hex. */
  readonly payload?: string
  /** Opaque blocks whose payload is printable UTF-8. */
  readonly text?: string
  /** Genesis blocks: the founding members. */
  readonly peers?: string[]
  /** Add and remove blocks. */
  readonly peer?: string
  /** Accusation blocks: the accused peer and the kind of malice. */
  readonly offender?: string
  readonly malice?: string
  /** The peers whose votes this peer holds for the block (local, not agreed), sorted. */
  readonly voters: string[]
  /** Epoch ms when this process delivered the block; null for blocks restored at startup. */
  readonly deliveredAt: number | null
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** The payload as text when it is valid UTF-8 without control characters (tab and newlines allowed). */
export function printableText(bytes: Uint8Array): string | undefined {
  let text: string
  try {
    text = strictUtf8.decode(bytes)
  } catch {
    return undefined
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(text) ? undefined : text
}

const MAX_CACHED_NAMES = 4096

/**
 * Maps engine ids (hex Ed25519 public keys) to peer id strings. A peer id is derived from the key
 * itself, so founders and peers added later (Add and Remove blocks, voters) are named alike; the
 * map only saves deriving a name twice.
 */
export class PeerNames {
  private readonly names = new Map<string, string>()

  of(id: PublicId): string {
    let name = this.names.get(id.name)
    if (name === undefined) {
      try {
        name = peerIdFromPublicId(id).toString()
      } catch {
        name = id.name
      }
      // Bounded: the names seen in blocks are the section's members, past and present.
      if (this.names.size >= MAX_CACHED_NAMES) this.names.clear()
      this.names.set(id.name, name)
    }
    return name
  }
}

export function blockToJson(
  delivered: DeliveredBlock,
  names: PeerNames,
  deliveredAt: number | null,
): BlockJson {
  const { block, position } = delivered
  const voters = block.proofs.map((proof) => names.of(proof.publicId)).sort()
  const observation = block.payload
  switch (observation.kind) {
    case 'genesis':
      return {
        position,
        kind: 'genesis',
        peers: observation.group.map((id) => names.of(id)).sort(),
        voters,
        deliveredAt,
      }
    case 'add':
    case 'remove':
      return { position, kind: observation.kind, peer: names.of(observation.peer), voters, deliveredAt }
    case 'accusation':
      return {
        position,
        kind: 'accusation',
        offender: names.of(observation.offender),
        malice: observation.malice.type,
        voters,
        deliveredAt,
      }
    case 'opaque': {
      const text = printableText(observation.payload)
      return {
        position,
        kind: 'opaque',
        payload: Buffer.from(observation.payload).toString('hex'),
        ...(text === undefined ? {} : { text }),
        voters,
        deliveredAt,
      }
    }
    case 'checkpoint':
      return {
        position,
        kind: 'checkpoint',
        payload: Buffer.from(observation.payload).toString('hex'),
        voters,
        deliveredAt,
      }
  }
}
