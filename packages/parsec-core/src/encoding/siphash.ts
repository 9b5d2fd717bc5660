/**
 * SipHash-1-3 with keys (0, 0): what Rust's `DefaultHasher` computes over a byte stream. The mock
 * identity's signatures are built from it (spec §1.4). 64-bit lanes are kept as 32-bit halves in
 * locals of one loop (no closures, no BigInt), which keeps them in registers.
 */

let scratch = new Uint8Array(1024)

/** The parts joined in a reused buffer (the result is only read before the next call). */
function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]
  let length = 0
  for (const part of parts) length += part.length
  if (scratch.length < length) scratch = new Uint8Array(length * 2)
  let offset = 0
  for (const part of parts) {
    scratch.set(part, offset)
    offset += part.length
  }
  return scratch.subarray(0, length)
}

/** SipHash-1-3(k0=0, k1=0) of the concatenation of `parts`; returns the 64-bit result as 8 LE bytes. */
export function sipHash13(parts: readonly Uint8Array[]): Uint8Array {
  const data = concat(parts)
  const n = data.length
  const words = n >>> 3
  let v0h = 0x736f6d65
  let v0l = 0x70736575
  let v1h = 0x646f7261
  let v1l = 0x6e646f6d
  let v2h = 0x6c796765
  let v2l = 0x6e657261
  let v3h = 0x74656462
  let v3l = 0x79746573
  let t = 0
  let l = 0
  // Iterations: one per whole word, one for the tail word (with the length byte), then the three
  // finalisation rounds (v2 ^= 0xff before the first of them) that absorb no message.
  for (let k = 0; k < words + 4; k++) {
    let mh = 0
    let ml = 0
    const absorbs = k <= words
    if (k < words) {
      const i = k << 3
      ml = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) >>> 0
      mh = (data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24)) >>> 0
    } else if (k === words) {
      const i = k << 3
      for (let b = 0; i + b < n; b++) {
        if (b < 4) ml |= data[i + b] << (8 * b)
        else mh |= data[i + b] << (8 * (b - 4))
      }
      ml >>>= 0
      mh = (mh | ((n & 0xff) << 24)) >>> 0
    } else if (k === words + 1) {
      v2l = (v2l ^ 0xff) >>> 0
    }
    if (absorbs) {
      v3h = (v3h ^ mh) >>> 0
      v3l = (v3l ^ ml) >>> 0
    }
    // v0 += v1; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32)
    l = (v0l + v1l) >>> 0
    v0h = (v0h + v1h + (l < v0l ? 1 : 0)) >>> 0
    v0l = l
    t = v1h
    v1h = (((v1h << 13) | (v1l >>> 19)) ^ v0h) >>> 0
    v1l = (((v1l << 13) | (t >>> 19)) ^ v0l) >>> 0
    t = v0h
    v0h = v0l
    v0l = t
    // v2 += v3; v3 = rotl(v3, 16) ^ v2
    l = (v2l + v3l) >>> 0
    v2h = (v2h + v3h + (l < v2l ? 1 : 0)) >>> 0
    v2l = l
    t = v3h
    v3h = (((v3h << 16) | (v3l >>> 16)) ^ v2h) >>> 0
    v3l = (((v3l << 16) | (t >>> 16)) ^ v2l) >>> 0
    // v0 += v3; v3 = rotl(v3, 21) ^ v0
    l = (v0l + v3l) >>> 0
    v0h = (v0h + v3h + (l < v0l ? 1 : 0)) >>> 0
    v0l = l
    t = v3h
    v3h = (((v3h << 21) | (v3l >>> 11)) ^ v0h) >>> 0
    v3l = (((v3l << 21) | (t >>> 11)) ^ v0l) >>> 0
    // v2 += v1; v1 = rotl(v1, 17) ^ v2; v2 = rotl(v2, 32)
    l = (v2l + v1l) >>> 0
    v2h = (v2h + v1h + (l < v2l ? 1 : 0)) >>> 0
    v2l = l
    t = v1h
    v1h = (((v1h << 17) | (v1l >>> 15)) ^ v2h) >>> 0
    v1l = (((v1l << 17) | (t >>> 15)) ^ v2l) >>> 0
    t = v2h
    v2h = v2l
    v2l = t
    if (absorbs) {
      v0h = (v0h ^ mh) >>> 0
      v0l = (v0l ^ ml) >>> 0
    }
  }
  const h = (v0h ^ v1h ^ v2h ^ v3h) >>> 0
  l = (v0l ^ v1l ^ v2l ^ v3l) >>> 0
  const out = new Uint8Array(8)
  out[0] = l & 0xff
  out[1] = (l >>> 8) & 0xff
  out[2] = (l >>> 16) & 0xff
  out[3] = l >>> 24
  out[4] = h & 0xff
  out[5] = (h >>> 8) & 0xff
  out[6] = (h >>> 16) & 0xff
  out[7] = h >>> 24
  return out
}
