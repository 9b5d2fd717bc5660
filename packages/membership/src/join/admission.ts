/** The outcome of judging a join request (spec §3.4: admit | reject(reason, retryAfter) | defer). */
import type { RejectReason } from '../wire/messages.js'

export type Admission =
  | { readonly kind: 'admit' }
  | { readonly kind: 'reject'; readonly reason: RejectReason; readonly retryAfterMs: number }
  /** Valid, not now: the member keeps the request and judges it again as blocks arrive. */
  | { readonly kind: 'defer'; readonly reason: RejectReason; readonly retryAfterMs: number }

export const ADMIT: Admission = { kind: 'admit' }

export const reject = (reason: RejectReason, retryAfterMs = 0): Admission => ({
  kind: 'reject',
  reason,
  retryAfterMs,
})
export const defer = (reason: RejectReason, retryAfterMs: number): Admission => ({
  kind: 'defer',
  reason,
  retryAfterMs,
})
