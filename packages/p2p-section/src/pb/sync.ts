import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface SyncMessage {
  kind: SyncMessage.Kind
  events: Uint8Array<ArrayBuffer>[]
  status: SyncMessage.Status
  known: FrontierEntry[]
  epoch: bigint
}

export namespace SyncMessage {
  export enum Kind {
    REQUEST = 'REQUEST',
    RESPONSE = 'RESPONSE'
  }

  enum __KindValues {
    REQUEST = 0,
    RESPONSE = 1
  }

  export namespace Kind {
    export const codec = (): Codec<Kind> => {
      return enumeration<Kind>(__KindValues)
    }
  }

  export enum Status {
    OK = 'OK',
    CATCH_UP = 'CATCH_UP',
    NOT_READY = 'NOT_READY',
    NOT_MEMBER = 'NOT_MEMBER',
    SERVED = 'SERVED',
    OTHER_EPOCH = 'OTHER_EPOCH'
  }

  enum __StatusValues {
    OK = 0,
    CATCH_UP = 1,
    NOT_READY = 2,
    NOT_MEMBER = 3,
    SERVED = 4,
    OTHER_EPOCH = 5
  }

  export namespace Status {
    export const codec = (): Codec<Status> => {
      return enumeration<Status>(__StatusValues)
    }
  }

  let _codec: Codec<SyncMessage>

  export const codec = (): Codec<SyncMessage> => {
    if (_codec == null) {
      _codec = message<SyncMessage>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.kind != null && __KindValues[obj.kind] !== 0) {
          w.uint32(8)
          SyncMessage.Kind.codec().encode(obj.kind, w)
        }

        if (obj.events != null && obj.events.length > 0) {
          for (const value of obj.events) {
            w.uint32(18)
            w.bytes(value)
          }
        }

        if (obj.status != null && __StatusValues[obj.status] !== 0) {
          w.uint32(24)
          SyncMessage.Status.codec().encode(obj.status, w)
        }

        if (obj.known != null && obj.known.length > 0) {
          for (const value of obj.known) {
            w.uint32(34)
            FrontierEntry.codec().encode(value, w)
          }
        }

        if ((obj.epoch != null && obj.epoch !== 0n)) {
          w.uint32(40)
          w.uint64(obj.epoch)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          kind: Kind.REQUEST,
          events: [],
          status: Status.OK,
          known: [],
          epoch: 0n
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.kind = SyncMessage.Kind.codec().decode(reader)
              break
            }
            case 2: {
              if (opts.limits?.events != null && obj.events.length === opts.limits.events) {
                throw new MaxLengthError('Decode error - repeated field "events" had too many elements')
              }

              obj.events.push(reader.bytes())
              break
            }
            case 3: {
              obj.status = SyncMessage.Status.codec().decode(reader)
              break
            }
            case 4: {
              if (opts.limits?.known != null && obj.known.length === opts.limits.known) {
                throw new MaxLengthError('Decode error - repeated field "known" had too many elements')
              }

              obj.known.push(FrontierEntry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.known$
              }))
              break
            }
            case 5: {
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
          events: 0,
          known: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.kind`,
                value: SyncMessage.Kind.codec().decode(reader)
              }
              break
            }
            case 2: {
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
            case 3: {
              yield {
                field: `${prefix}.status`,
                value: SyncMessage.Status.codec().decode(reader)
              }
              break
            }
            case 4: {
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
            case 5: {
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

  export interface SyncMessageKindFieldEvent {
    field: '$.kind'
    value: SyncMessage.Kind
  }

  export interface SyncMessageEventsFieldEvent {
    field: '$.events[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface SyncMessageStatusFieldEvent {
    field: '$.status'
    value: SyncMessage.Status
  }

  export interface SyncMessageKnownCreatorFieldEvent {
    field: '$.known[].creator'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface SyncMessageKnownLastFieldEvent {
    field: '$.known[].last'
    value: bigint
    index: number
  }

  export interface SyncMessageEpochFieldEvent {
    field: '$.epoch'
    value: bigint
  }

  export function encode (obj: Partial<SyncMessage>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncMessage.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncMessage>): SyncMessage {
    return decodeMessage(buf, SyncMessage.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncMessage>): Generator<SyncMessageKindFieldEvent | SyncMessageEventsFieldEvent | SyncMessageStatusFieldEvent | SyncMessageKnownCreatorFieldEvent | SyncMessageKnownLastFieldEvent | SyncMessageEpochFieldEvent> {
    return streamMessage(buf, SyncMessage.codec(), opts)
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
