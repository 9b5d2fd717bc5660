import { compareBytes } from '../encoding/bytes.js'
import type { PublicId } from './identity.js'

/** The total order on public ids (spec §1.6: tie-breaks and set serialization depend on it). */
export function compareIds(a: PublicId, b: PublicId): number {
  return compareBytes(a.orderKey, b.orderKey)
}

export function sortIds<T extends PublicId>(ids: Iterable<T>): T[] {
  return [...ids].sort(compareIds)
}
