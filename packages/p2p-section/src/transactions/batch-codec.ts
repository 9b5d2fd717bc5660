/**
 * A batch of application transactions as one opaque payload (README: "Transactions").
 *
 * Layout (version 1):
 *
 *     F5 50 54 58   magic: 0xF5 (never a byte of UTF-8 text) then "PTX"
 *     01            version
 *     N[8]          nonce: 8 bytes the proposer picks at random, so two batches of the same
 *                   transactions are two payloads (the engine refuses a vote it already cast)
 *     varint        count (≥ 1)
 *     count × (varint length (≥ 1), length bytes)
 *
 * varints are unsigned LEB128, minimal, at most 4 bytes (< 2^28). Nothing may follow the last
 * transaction. `decodeBatch` never throws anything but a `BatchDecodeError` (a typed `code`): a
 * peer's bad bytes must not crash us.
 *
 * How a payload is known to be a batch: by this magic, a documented convention rather than an
 * engine observation kind of its own. A new kind would change the engine's wire format and the
 * reference's DOT layout the replay tests share; instead `vote()` refuses every payload that starts
 * with the magic (`ReservedPayload`), so an application's plain vote is never taken for a batch,
 * and batches are read only in Single-mode sections, where `submit` works.
 */

import { varintLength } from '../varint.js'

export const BATCH_MAGIC = Uint8Array.of(0xf5, 0x50, 0x54, 0x58)
export const BATCH_VERSION = 1
export const NONCE_BYTES = 8
/** Magic, version, nonce, and a count of up to 4 bytes. */
export const BATCH_HEADER_BYTES = BATCH_MAGIC.length + 1 + NONCE_BYTES + 4
const MAX_VARINT = 2 ** 28 - 1

export type BatchDecodeErrorCode =
  /** The bytes do not start with the batch magic. */
  | 'NotABatch'
  /** A version this code does not read. */
  | 'UnknownVersion'
  /** The bytes end inside the header, a length or a transaction. */
  | 'Truncated'
  /** A varint that is not minimal or has more than 4 bytes. */
  | 'BadVarint'
  /** A count of 0, or a transaction of 0 bytes. */
  | 'Empty'
  /** Bytes after the last transaction. */
  | 'TrailingBytes'

export class BatchDecodeError extends Error {
  override readonly name = 'BatchDecodeError'
  constructor(
    readonly code: BatchDecodeErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** Whether a payload starts with the batch magic (a batch, or bytes claiming to be one). */
export function isBatch(payload: Uint8Array): boolean {
  if (payload.length < BATCH_MAGIC.length) return false
  for (let i = 0; i < BATCH_MAGIC.length; i++) if (payload[i] !== BATCH_MAGIC[i]) return false
  return true
}

/** The bytes one transaction adds to a batch. */
export function framedLength(tx: Uint8Array | number): number {
  const length = typeof tx === 'number' ? tx : tx.length
  return varintLength(length) + length
}

/** Encodes transactions (each 1 byte to 2^28 - 1 bytes, at least one) with the given nonce. */
export function encodeBatch(txs: readonly Uint8Array[], nonce: Uint8Array): Uint8Array {
  if (txs.length === 0 || txs.length > MAX_VARINT)
    throw new RangeError('a batch holds 1 to 2^28 - 1 transactions')
  if (nonce.length !== NONCE_BYTES) throw new RangeError(`a nonce has ${NONCE_BYTES} bytes`)
  let size = BATCH_MAGIC.length + 1 + NONCE_BYTES + varintLength(txs.length)
  for (const tx of txs) {
    if (tx.length === 0 || tx.length > MAX_VARINT)
      throw new RangeError('a transaction holds 1 to 2^28 - 1 bytes')
    size += framedLength(tx)
  }
  const out = new Uint8Array(size)
  out.set(BATCH_MAGIC, 0)
  let at = BATCH_MAGIC.length
  out[at++] = BATCH_VERSION
  out.set(nonce, at)
  at += NONCE_BYTES
  const writeVarint = (value: number): void => {
    while (value >= 0x80) {
      out[at++] = (value & 0x7f) | 0x80
      value = Math.floor(value / 0x80)
    }
    out[at++] = value
  }
  writeVarint(txs.length)
  for (const tx of txs) {
    writeVarint(tx.length)
    out.set(tx, at)
    at += tx.length
  }
  return out
}

export interface DecodedBatch {
  readonly version: number
  readonly nonce: Uint8Array
  /** Views into the payload's bytes. */
  readonly txs: Uint8Array[]
}

/** Decodes a batch; throws a `BatchDecodeError` (and nothing else) on malformed bytes. */
export function decodeBatch(bytes: Uint8Array): DecodedBatch {
  if (!isBatch(bytes)) throw new BatchDecodeError('NotABatch', 'the bytes do not start with the batch magic')
  let at = BATCH_MAGIC.length
  if (at >= bytes.length) throw new BatchDecodeError('Truncated', 'the batch ends before its version')
  const version = bytes[at++]
  if (version !== BATCH_VERSION) throw new BatchDecodeError('UnknownVersion', `batch version ${version}`)
  if (at + NONCE_BYTES > bytes.length)
    throw new BatchDecodeError('Truncated', 'the batch ends inside its nonce')
  const nonce = bytes.subarray(at, at + NONCE_BYTES)
  at += NONCE_BYTES
  const readVarint = (what: string): number => {
    let value = 0
    let scale = 1
    for (let i = 0; i < 4; i++) {
      if (at >= bytes.length) throw new BatchDecodeError('Truncated', `the batch ends inside ${what}`)
      const byte = bytes[at++]
      value += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) throw new BatchDecodeError('BadVarint', `${what} is not minimal`)
        return value
      }
      scale *= 0x80
    }
    throw new BatchDecodeError('BadVarint', `${what} takes more than 4 bytes`)
  }
  const count = readVarint('the count')
  if (count === 0) throw new BatchDecodeError('Empty', 'a batch of no transaction')
  // Each transaction takes at least 2 bytes: a count beyond that is truncated, whatever follows.
  if (count > (bytes.length - at) / 2) {
    throw new BatchDecodeError('Truncated', `${count} transactions cannot fit in ${bytes.length - at} bytes`)
  }
  const txs: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const length = readVarint(`the length of transaction ${i}`)
    if (length === 0) throw new BatchDecodeError('Empty', `transaction ${i} is empty`)
    if (at + length > bytes.length)
      throw new BatchDecodeError('Truncated', `the batch ends inside transaction ${i}`)
    txs.push(bytes.subarray(at, at + length))
    at += length
  }
  if (at !== bytes.length)
    throw new BatchDecodeError('TrailingBytes', `${bytes.length - at} bytes after the last transaction`)
  return { version, nonce, txs }
}
