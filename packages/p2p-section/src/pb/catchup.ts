import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface CatchUpRequest {
  known: FrontierEntry[]
  from: bigint
  maxBytes: number
  epoch: bigint
}

export namespace CatchUpRequest {
  let _codec: Codec<CatchUpRequest>

  export const codec = (): Codec<CatchUpRequest> => {
    if (_codec == null) {
      _codec = message<CatchUpRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.known != null && obj.known.length > 0) {
          for (const value of obj.known) {
            w.uint32(10)
            FrontierEntry.codec().encode(value, w)
          }
        }

        if ((obj.from != null && obj.from !== 0n)) {
          w.uint32(16)
          w.uint64(obj.from)
        }

        if ((obj.maxBytes != null && obj.maxBytes !== 0)) {
          w.uint32(24)
          w.uint32(obj.maxBytes)
        }

        if ((obj.epoch != null && obj.epoch !== 0n)) {
          w.uint32(32)
          w.uint64(obj.epoch)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          known: [],
          from: 0n,
          maxBytes: 0,
          epoch: 0n
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.known != null && obj.known.length === opts.limits.known) {
                throw new MaxLengthError('Decode error - repeated field "known" had too many elements')
              }

              obj.known.push(FrontierEntry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.known$
              }))
              break
            }
            case 2: {
              obj.from = reader.uint64()
              break
            }
            case 3: {
              obj.maxBytes = reader.uint32()
              break
            }
            case 4: {
              obj.epoch = reader.uint64()
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
        const obj = {
          known: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.known != null && obj.known === opts.limits.known) {
                throw new MaxLengthError('Streaming decode error - repeated field "known" had too many elements')
              }

              for (const evt of FrontierEntry.codec().stream(reader, reader.uint32(), `${prefix}.known[]`, {
                limits: opts.limits?.known$
              })) {
                yield {
                  ...evt,
                  index: obj.known
                }
              }

              obj.known++

              break
            }
            case 2: {
              yield {
                field: `${prefix}.from`,
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
            case 4: {
              yield {
                field: `${prefix}.epoch`,
                value: reader.uint64()
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

  export interface CatchUpRequestKnownCreatorFieldEvent {
    field: '$.known[].creator'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface CatchUpRequestKnownLastFieldEvent {
    field: '$.known[].last'
    value: bigint
    index: number
  }

  export interface CatchUpRequestFromFieldEvent {
    field: '$.from'
    value: bigint
  }

  export interface CatchUpRequestMaxBytesFieldEvent {
    field: '$.maxBytes'
    value: number
  }

  export interface CatchUpRequestEpochFieldEvent {
    field: '$.epoch'
    value: bigint
  }

  export function encode (obj: Partial<CatchUpRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, CatchUpRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CatchUpRequest>): CatchUpRequest {
    return decodeMessage(buf, CatchUpRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CatchUpRequest>): Generator<CatchUpRequestKnownCreatorFieldEvent | CatchUpRequestKnownLastFieldEvent | CatchUpRequestFromFieldEvent | CatchUpRequestMaxBytesFieldEvent | CatchUpRequestEpochFieldEvent> {
    return streamMessage(buf, CatchUpRequest.codec(), opts)
  }
}

export interface CatchUpPage {
  events: Uint8Array<ArrayBuffer>[]
  next: bigint
  done: boolean
  graphSize: bigint
  requesterLast?: bigint
  requesterLastHash: Uint8Array<ArrayBuffer>
  notMember: boolean
  otherEpoch: boolean
  epoch: bigint
}

export namespace CatchUpPage {
  let _codec: Codec<CatchUpPage>

  export const codec = (): Codec<CatchUpPage> => {
    if (_codec == null) {
      _codec = message<CatchUpPage>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.events != null && obj.events.length > 0) {
          for (const value of obj.events) {
            w.uint32(10)
            w.bytes(value)
          }
        }

        if ((obj.next != null && obj.next !== 0n)) {
          w.uint32(16)
          w.uint64(obj.next)
        }

        if ((obj.done != null && obj.done !== false)) {
          w.uint32(24)
          w.bool(obj.done)
        }

        if ((obj.graphSize != null && obj.graphSize !== 0n)) {
          w.uint32(32)
          w.uint64(obj.graphSize)
        }

        if (obj.requesterLast != null) {
          w.uint32(40)
          w.uint64(obj.requesterLast)
        }

        if ((obj.requesterLastHash != null && obj.requesterLastHash.byteLength > 0)) {
          w.uint32(50)
          w.bytes(obj.requesterLastHash)
        }

        if ((obj.notMember != null && obj.notMember !== false)) {
          w.uint32(56)
          w.bool(obj.notMember)
        }

        if ((obj.otherEpoch != null && obj.otherEpoch !== false)) {
          w.uint32(64)
          w.bool(obj.otherEpoch)
        }

        if ((obj.epoch != null && obj.epoch !== 0n)) {
          w.uint32(72)
          w.uint64(obj.epoch)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          events: [],
          next: 0n,
          done: false,
          graphSize: 0n,
          requesterLastHash: uint8ArrayAlloc(0),
          notMember: false,
          otherEpoch: false,
          epoch: 0n
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.events != null && obj.events.length === opts.limits.events) {
                throw new MaxLengthError('Decode error - repeated field "events" had too many elements')
              }

              obj.events.push(reader.bytes())
              break
            }
            case 2: {
              obj.next = reader.uint64()
              break
            }
            case 3: {
              obj.done = reader.bool()
              break
            }
            case 4: {
              obj.graphSize = reader.uint64()
              break
            }
            case 5: {
              obj.requesterLast = reader.uint64()
              break
            }
            case 6: {
              obj.requesterLastHash = reader.bytes()
              break
            }
            case 7: {
              obj.notMember = reader.bool()
              break
            }
            case 8: {
              obj.otherEpoch = reader.bool()
              break
            }
            case 9: {
              obj.epoch = reader.uint64()
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
        const obj = {
          events: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.events != null && obj.events === opts.limits.events) {
                throw new MaxLengthError('Streaming decode error - repeated field "events" had too many elements')
              }

              yield {
                field: `${prefix}.events[]`,
                index: obj.events,
                value: reader.bytes()
              }

              obj.events++

              break
            }
            case 2: {
              yield {
                field: `${prefix}.next`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.done`,
                value: reader.bool()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.graphSize`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.requesterLast`,
                value: reader.uint64()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.requesterLastHash`,
                value: reader.bytes()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.notMember`,
                value: reader.bool()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.otherEpoch`,
                value: reader.bool()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.epoch`,
                value: reader.uint64()
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

  export interface CatchUpPageEventsFieldEvent {
    field: '$.events[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface CatchUpPageNextFieldEvent {
    field: '$.next'
    value: bigint
  }

  export interface CatchUpPageDoneFieldEvent {
    field: '$.done'
    value: boolean
  }

  export interface CatchUpPageGraphSizeFieldEvent {
    field: '$.graphSize'
    value: bigint
  }

  export interface CatchUpPageRequesterLastFieldEvent {
    field: '$.requesterLast'
    value: bigint
  }

  export interface CatchUpPageRequesterLastHashFieldEvent {
    field: '$.requesterLastHash'
    value: Uint8Array<ArrayBuffer>
  }

  export interface CatchUpPageNotMemberFieldEvent {
    field: '$.notMember'
    value: boolean
  }

  export interface CatchUpPageOtherEpochFieldEvent {
    field: '$.otherEpoch'
    value: boolean
  }

  export interface CatchUpPageEpochFieldEvent {
    field: '$.epoch'
    value: bigint
  }

  export function encode (obj: Partial<CatchUpPage>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, CatchUpPage.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CatchUpPage>): CatchUpPage {
    return decodeMessage(buf, CatchUpPage.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CatchUpPage>): Generator<CatchUpPageEventsFieldEvent | CatchUpPageNextFieldEvent | CatchUpPageDoneFieldEvent | CatchUpPageGraphSizeFieldEvent | CatchUpPageRequesterLastFieldEvent | CatchUpPageRequesterLastHashFieldEvent | CatchUpPageNotMemberFieldEvent | CatchUpPageOtherEpochFieldEvent | CatchUpPageEpochFieldEvent> {
    return streamMessage(buf, CatchUpPage.codec(), opts)
  }
}

export interface FrontierEntry {
  creator: Uint8Array<ArrayBuffer>
  last: bigint
}

export namespace FrontierEntry {
  let _codec: Codec<FrontierEntry>

  export const codec = (): Codec<FrontierEntry> => {
    if (_codec == null) {
      _codec = message<FrontierEntry>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.creator != null && obj.creator.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.creator)
        }

        if ((obj.last != null && obj.last !== 0n)) {
          w.uint32(16)
          w.uint64(obj.last)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          creator: uint8ArrayAlloc(0),
          last: 0n
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.creator = reader.bytes()
              break
            }
            case 2: {
              obj.last = reader.uint64()
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
                field: `${prefix}.creator`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.last`,
                value: reader.uint64()
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

  export interface FrontierEntryCreatorFieldEvent {
    field: '$.creator'
    value: Uint8Array<ArrayBuffer>
  }

  export interface FrontierEntryLastFieldEvent {
    field: '$.last'
    value: bigint
  }

  export function encode (obj: Partial<FrontierEntry>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, FrontierEntry.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FrontierEntry>): FrontierEntry {
    return decodeMessage(buf, FrontierEntry.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FrontierEntry>): Generator<FrontierEntryCreatorFieldEvent | FrontierEntryLastFieldEvent> {
    return streamMessage(buf, FrontierEntry.codec(), opts)
  }
}
