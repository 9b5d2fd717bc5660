/**
 * The peer list (spec §8): local peer indices (us = 0, then genesis members in id order, then
 * peers in the order they were added), their states, and the event at which each removed peer's
 * removal was decided.
 */
import { ParsecError } from '../errors.js'
import type { PublicId } from '../identity/identity.js'
import { hasState, INACTIVE } from './peer-state.js'

export class PeerList {
  readonly ids: PublicId[] = []
  private readonly states: number[] = []
  /** Graph index of the deciding event of a peer's removal, or -1. */
  readonly removedAt: number[] = []
  private readonly byName = new Map<string, number>()

  get count(): number {
    return this.ids.length
  }

  indexOf(id: PublicId): number | undefined {
    return this.byName.get(id.name)
  }

  require(id: PublicId): number {
    const index = this.byName.get(id.name)
    if (index === undefined) throw new ParsecError('UnknownPeer', `unknown peer ${id.name}`)
    return index
  }

  /** Adds `id` if unknown, then ORs `state` in; returns its local index. */
  add(id: PublicId, state: number): number {
    let index = this.byName.get(id.name)
    if (index === undefined) {
      index = this.ids.length
      this.ids.push(id)
      this.states.push(INACTIVE)
      this.removedAt.push(-1)
      this.byName.set(id.name, index)
    }
    this.orState(index, state)
    return index
  }

  /** The state as the protocol reads it: a removed peer is inactive whatever bits it had. */
  state(index: number): number {
    return this.removedAt[index] >= 0 ? INACTIVE : this.states[index]
  }

  has(index: number, wanted: number): boolean {
    return hasState(this.state(index), wanted)
  }

  orState(index: number, bits: number): void {
    if (this.removedAt[index] < 0) this.states[index] |= bits
  }

  markRemoved(index: number, atEvent: number): void {
    if (this.removedAt[index] < 0) this.removedAt[index] = atEvent
  }

  isRemoved(index: number): boolean {
    return this.removedAt[index] >= 0
  }
}
