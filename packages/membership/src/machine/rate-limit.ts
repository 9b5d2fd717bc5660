/** Token buckets fed by the injected clock (no timers), keyed and bounded against hostile keys. */
import type { RateLimit } from '../defaults.js'

interface Bucket {
  tokens: number
  updatedAt: number
}

export class KeyedBuckets {
  private readonly buckets = new Map<string, Bucket>()

  constructor(
    private readonly limit: RateLimit,
    private readonly maxKeys = 4096,
  ) {}

  /** Takes a token for `key` at `now`; false (rate-limited) if none is left. */
  take(key: string, now: number): boolean {
    const bucket = this.refill(key, now)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  /** Milliseconds until `key` has a token again. */
  retryAfter(key: string, now: number): number {
    const bucket = this.refill(key, now)
    if (bucket.tokens >= 1 || this.limit.perSecond <= 0) return 0
    return Math.ceil(((1 - bucket.tokens) / this.limit.perSecond) * 1000)
  }

  private refill(key: string, now: number): Bucket {
    let bucket = this.buckets.get(key)
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string)
      bucket = { tokens: this.limit.burst, updatedAt: now }
      this.buckets.set(key, bucket)
    }
    const elapsed = Math.max(0, now - bucket.updatedAt)
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + (elapsed / 1000) * this.limit.perSecond)
    bucket.updatedAt = now
    return bucket
  }
}

/** The /24 of an IPv4 or the /48 of an IPv6 multiaddr (or the address itself if neither). */
export function addressPrefix(multiaddr: string): string {
  const parts = multiaddr.split('/')
  const at = parts.findIndex((p) => p === 'ip4' || p === 'ip6')
  if (at < 0 || at + 1 >= parts.length) return multiaddr
  const address = parts[at + 1]
  if (parts[at] === 'ip4') return `ip4:${address.split('.').slice(0, 3).join('.')}`
  return `ip6:${expandIp6(address).slice(0, 3).join(':')}`
}

function expandIp6(address: string): string[] {
  const [head, tail] = address.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const fill = tail === undefined ? [] : Array(Math.max(0, 8 - left.length - right.length)).fill('0')
  return [...left, ...fill, ...right].map((group) => group.toLowerCase().replace(/^0+(?=.)/, ''))
}
