/**
 * `change:deferred` events, once per change, peer and reason until the change is voted or moot. Each
 * reason is remembered, not only the last: two checks of one change (a join retry and a Ready) can
 * disagree on the reason, and alternating them must not emit an event per retry (Sybil-200 seed 524).
 */
import type { PublicId } from '../engine-exports.js'
import type { Step } from './step.js'

export type ChangeKind = 'add' | 'remove'

/**
 * Keys remembered at most: deferred joiners are network input (a Sybil flood names fresh peers
 * without end), so the oldest are forgotten first (at worst one more event for a forgotten one).
 */
export const MAX_DEFERRAL_KEYS = 4096

export class Deferrals {
  /** Reasons reported per change key (few: the reasons are a fixed set). */
  private readonly last = new Map<string, Set<string>>()

  report(step: Step, change: ChangeKind, peer: PublicId, reason: string): void {
    const key = `${change}:${peer.name}`
    const reasons = this.last.get(key) ?? new Set<string>()
    if (reasons.has(reason)) return
    this.last.delete(key)
    if (this.last.size >= MAX_DEFERRAL_KEYS) this.last.delete(this.last.keys().next().value as string)
    reasons.add(reason)
    this.last.set(key, reasons)
    step.events.push({ type: 'change:deferred', change, peer, reason })
  }

  get size(): number {
    return this.last.size
  }

  /** The change was voted (or became moot): a later deferral is news again. */
  clear(change: ChangeKind, peer: string): void {
    this.last.delete(`${change}:${peer}`)
  }

  clearPeer(peer: string): void {
    this.clear('add', peer)
    this.clear('remove', peer)
  }
}
