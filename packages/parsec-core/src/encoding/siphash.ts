/**
 * SipHash-1-3 with keys (0, 0): what Rust's `DefaultHasher` computes over a byte stream. The mock
 * identity's signatures are built from it (spec §1.4). 64-bit lanes are kept as 32-bit halves so
 * no BigInt is needed on the hot path.
 */

// state: v0h v0l v1h v1l v2h v2l v3h v3l
const s = new Uint32Array(8)

function add(dst: number, src: number): void {
  const lo = (s[dst + 1] + s[src + 1]) >>> 0
  const carry = lo < s[dst + 1] ? 1 : 0
  s[dst] = (s[dst] + s[src] + carry) >>> 0
  s[dst + 1] = lo
}

function rotl(i: number, n: number): void {
  const h = s[i]
  const l = s[i + 1]
  if (n === 32) {
    s[i] = l
    s[i + 1] = h
  } else if (n < 32) {
    s[i] = ((h << n) | (l >>> (32 - n))) >>> 0
    s[i + 1] = ((l << n) | (h >>> (32 - n))) >>> 0
  } else {
    const m = n - 32
    s[i] = ((l << m) | (h >>> (32 - m))) >>> 0
    s[i + 1] = ((h << m) | (l >>> (32 - m))) >>> 0
  }
}

function xor(dst: number, src: number): void {
  s[dst] ^= s[src]
  s[dst + 1] ^= s[src + 1]
}

function sipRound(): void {
  add(0, 2)
  rotl(2, 13)
  xor(2, 0)
  rotl(0, 32)
  add(4, 6)
  rotl(6, 16)
  xor(6, 4)
  add(0, 6)
  rotl(6, 21)
  xor(6, 0)
  add(4, 2)
  rotl(2, 17)
  xor(2, 4)
  rotl(4, 32)
}

function absorb(mh: number, ml: number): void {
  s[6] ^= mh
  s[7] ^= ml
  sipRound()
  s[0] ^= mh
  s[1] ^= ml
}

/** SipHash-1-3(k0=0, k1=0) of the concatenation of `parts`; returns the 64-bit result as 8 LE bytes. */
export function sipHash13(parts: readonly Uint8Array[]): Uint8Array {
  s[0] = 0x736f6d65
  s[1] = 0x70736575
  s[2] = 0x646f7261
  s[3] = 0x6e646f6d
  s[4] = 0x6c796765
  s[5] = 0x6e657261
  s[6] = 0x74656462
  s[7] = 0x79746573
  const tail = new Uint8Array(8)
  let tailLength = 0
  let total = 0
  for (const part of parts) {
    total += part.length
    let i = 0
    if (tailLength > 0) {
      while (tailLength < 8 && i < part.length) tail[tailLength++] = part[i++]
      if (tailLength < 8) continue
      absorb(word(tail, 4), word(tail, 0))
      tailLength = 0
    }
    for (; i + 8 <= part.length; i += 8) absorb(word(part, i + 4), word(part, i))
    while (i < part.length) tail[tailLength++] = part[i++]
  }
  tail.fill(0, tailLength)
  tail[7] = total & 0xff
  absorb(word(tail, 4), word(tail, 0))
  s[5] ^= 0xff
  sipRound()
  sipRound()
  sipRound()
  const h = (s[0] ^ s[2] ^ s[4] ^ s[6]) >>> 0
  const l = (s[1] ^ s[3] ^ s[5] ^ s[7]) >>> 0
  const out = new Uint8Array(8)
  const view = new DataView(out.buffer)
  view.setUint32(0, l, true)
  view.setUint32(4, h, true)
  return out
}

function word(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0
}
