/** `change:deferred` events, once per change, peer and reason until the reason changes. */
import type { PublicId } from '../engine-exports.js'
import type { Step } from './step.js'

export type ChangeKind = 'add' | 'remove'

export class Deferrals {
  private readonly last = new Map<string, string>()

  report(step: Step, change: ChangeKind, peer: PublicId, reason: string): void {
    const key = `${change}:${peer.name}`
    if (this.last.get(key) === reason) return
    this.last.set(key, reason)
    step.events.push({ type: 'change:deferred', change, peer, reason })
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
