/**
 * The simulated transport's defence against request floods: every receiver serves each sender's
 * requests through a token bucket (one request per step, bursts up to `burst`), and refuses the
 * rest unhandled. The engine has no spam rule (spec §9.3: reverted in the reference), so without
 * this a flooding peer makes every honest peer it reaches grow its graph at the flood's rate.
 *
 * An honest peer gossips at most once per step, and each message is delayed by some amount in a
 * range of width `spread`; so in any window of w steps at most `w + spread` of its requests reach
 * one receiver, which a bucket of burst `spread + 1` refilled by one per step always admits:
 * honest requests are never refused (the simulation checks it).
 */
export class InboundLimit {
  /** receiver → sender → tokens left, and the step they were last refilled at. */
  private readonly buckets = new Map<string, Map<string, { tokens: number; step: number }>>()

  constructor(readonly burst: number) {
    if (!Number.isInteger(burst) || burst < 1) throw new RangeError(`burst must be ≥ 1, not ${burst}`)
  }

  /** Whether `receiver` handles a request from `sender` at `step` (taking a token if so). */
  admit(receiver: string, sender: string, step: number): boolean {
    let bySender = this.buckets.get(receiver)
    if (bySender === undefined) {
      bySender = new Map()
      this.buckets.set(receiver, bySender)
    }
    let bucket = bySender.get(sender)
    if (bucket === undefined) {
      bucket = { tokens: this.burst, step }
      bySender.set(sender, bucket)
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + (step - bucket.step))
    bucket.step = step
    if (bucket.tokens < 1) return false
    bucket.tokens--
    return true
  }
}
