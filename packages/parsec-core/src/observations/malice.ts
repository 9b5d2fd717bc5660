/**
 * Malice (spec §3.2): the evidence an accusation carries. Detection is a separate concern; the
 * type is here so accusation observations serialise and hash like the reference's.
 */
import type { BincodeWriter } from '../encoding/bincode.js'

export type EventHashBytes = Uint8Array

export type Malice =
  | { readonly type: 'UnexpectedGenesis'; readonly event: EventHashBytes }
  | { readonly type: 'DuplicateVote'; readonly first: EventHashBytes; readonly second: EventHashBytes }
  | { readonly type: 'MissingGenesis'; readonly event: EventHashBytes }
  | { readonly type: 'IncorrectGenesis'; readonly packedEvent: Uint8Array }
  | { readonly type: 'Fork'; readonly event: EventHashBytes }
  | { readonly type: 'InvalidAccusation'; readonly event: EventHashBytes }
  | { readonly type: 'OtherParentBySameCreator'; readonly packedEvent: Uint8Array }
  | { readonly type: 'SelfParentByDifferentCreator'; readonly packedEvent: Uint8Array }
  | { readonly type: 'InvalidRequest'; readonly packedEvent: Uint8Array }
  | { readonly type: 'InvalidResponse'; readonly packedEvent: Uint8Array }
  | { readonly type: 'Unprovable' }
  | { readonly type: 'Accomplice'; readonly event: EventHashBytes; readonly malice: Malice }

export type MaliceType = Malice['type']

const VARIANT: Record<MaliceType, number> = {
  UnexpectedGenesis: 0,
  DuplicateVote: 1,
  MissingGenesis: 2,
  IncorrectGenesis: 3,
  Fork: 4,
  InvalidAccusation: 5,
  OtherParentBySameCreator: 6,
  SelfParentByDifferentCreator: 7,
  InvalidRequest: 8,
  InvalidResponse: 9,
  Unprovable: 10,
  Accomplice: 11,
}

/** Packed events inside a malice are already-encoded `PackedEvent` bytes (content ‖ signature). */
export function writeMalice(writer: BincodeWriter, malice: Malice): void {
  writer.u32(VARIANT[malice.type])
  switch (malice.type) {
    case 'UnexpectedGenesis':
    case 'MissingGenesis':
    case 'Fork':
    case 'InvalidAccusation':
      writer.raw(malice.event)
      return
    case 'DuplicateVote':
      writer.raw(malice.first).raw(malice.second)
      return
    case 'IncorrectGenesis':
    case 'OtherParentBySameCreator':
    case 'SelfParentByDifferentCreator':
    case 'InvalidRequest':
    case 'InvalidResponse':
      writer.raw(malice.packedEvent)
      return
    case 'Unprovable':
      return
    case 'Accomplice':
      writer.raw(malice.event)
      writeMalice(writer, malice.malice)
      return
  }
}
