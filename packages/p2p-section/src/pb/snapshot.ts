import { decodeMessage, encodeMessage, enumeration, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface SnapshotRequest {
  position: bigint
  offset: bigint
  maxBytes: number
}

export namespace SnapshotRequest {
  let _codec: Codec<SnapshotRequest>

  export const codec = (): Codec<SnapshotRequest> => {
    if (_codec == null) {
      _codec = message<SnapshotRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.position != null && obj.position !== 0n)) {
          w.uint32(8)
          w.uint64(obj.position)
        }

        if ((obj.offset != null && obj.offset !== 0n)) {
          w.uint32(16)
          w.uint64(obj.offset)
        }

        if ((obj.maxBytes != null && obj.maxBytes !== 0)) {
          w.uint32(24)
          w.uint32(obj.maxBytes)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          position: 0n,
          offset: 0n,
          maxBytes: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.position = reader.uint64()
              break
            }
            case 2: {
              obj.offset = reader.uint64()
              break
            }
            case 3: {
              obj.maxBytes = reader.uint32()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.position`,
                value: reader.uint64()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.offset`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.maxBytes`,
                value: reader.uint32()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SnapshotRequestPositionFieldEvent {
    field: '$.position'
    value: bigint
  }

  export interface SnapshotRequestOffsetFieldEvent {
    field: '$.offset'
    value: bigint
  }

  export interface SnapshotRequestMaxBytesFieldEvent {
    field: '$.maxBytes'
    value: number
  }

  export function encode (obj: Partial<SnapshotRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SnapshotRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SnapshotRequest>): SnapshotRequest {
    return decodeMessage(buf, SnapshotRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SnapshotRequest>): Generator<SnapshotRequestPositionFieldEvent | SnapshotRequestOffsetFieldEvent | SnapshotRequestMaxBytesFieldEvent> {
    return streamMessage(buf, SnapshotRequest.codec(), opts)
  }
}

export interface SnapshotChunk {
  status: SnapshotChunk.Status
  digest: Uint8Array<ArrayBuffer>
  total: bigint
  offset: bigint
  data: Uint8Array<ArrayBuffer>
}

export namespace SnapshotChunk {
  export enum Status {
    OK = 'OK',
    UNKNOWN = 'UNKNOWN',
    NOT_READY = 'NOT_READY',
    TOO_LARGE = 'TOO_LARGE'
  }

  enum __StatusValues {
    OK = 0,
    UNKNOWN = 1,
    NOT_READY = 2,
    TOO_LARGE = 3
  }

  export namespace Status {
    export const codec = (): Codec<Status> => {
      return enumeration<Status>(__StatusValues)
    }
  }

  let _codec: Codec<SnapshotChunk>

  export const codec = (): Codec<SnapshotChunk> => {
    if (_codec == null) {
      _codec = message<SnapshotChunk>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.status != null && __StatusValues[obj.status] !== 0) {
          w.uint32(8)
          SnapshotChunk.Status.codec().encode(obj.status, w)
        }

        if ((obj.digest != null && obj.digest.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.digest)
        }

        if ((obj.total != null && obj.total !== 0n)) {
          w.uint32(24)
          w.uint64(obj.total)
        }

        if ((obj.offset != null && obj.offset !== 0n)) {
          w.uint32(32)
          w.uint64(obj.offset)
        }

        if ((obj.data != null && obj.data.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.data)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          status: Status.OK,
          digest: uint8ArrayAlloc(0),
          total: 0n,
          offset: 0n,
          data: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.status = SnapshotChunk.Status.codec().decode(reader)
              break
            }
            case 2: {
              obj.digest = reader.bytes()
              break
            }
            case 3: {
              obj.total = reader.uint64()
              break
            }
            case 4: {
              obj.offset = reader.uint64()
              break
            }
            case 5: {
              obj.data = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.status`,
                value: SnapshotChunk.Status.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.digest`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.total`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.offset`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.data`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SnapshotChunkStatusFieldEvent {
    field: '$.status'
    value: SnapshotChunk.Status
  }

  export interface SnapshotChunkDigestFieldEvent {
    field: '$.digest'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SnapshotChunkTotalFieldEvent {
    field: '$.total'
    value: bigint
  }

  export interface SnapshotChunkOffsetFieldEvent {
    field: '$.offset'
    value: bigint
  }

  export interface SnapshotChunkDataFieldEvent {
    field: '$.data'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SnapshotChunk>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SnapshotChunk.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SnapshotChunk>): SnapshotChunk {
    return decodeMessage(buf, SnapshotChunk.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SnapshotChunk>): Generator<SnapshotChunkStatusFieldEvent | SnapshotChunkDigestFieldEvent | SnapshotChunkTotalFieldEvent | SnapshotChunkOffsetFieldEvent | SnapshotChunkDataFieldEvent> {
    return streamMessage(buf, SnapshotChunk.codec(), opts)
  }
}
