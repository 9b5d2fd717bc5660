/** Bytes in the unsigned varint (LEB128) of `value`. */
export function varintLength(value: number): number {
  let bytes = 1
  while (value >= 0x80) {
    value = Math.floor(value / 0x80)
    bytes++
  }
  return bytes
}
