import type { Codec, DecodeOptions } from 'protons-runtime'
import {
  decodeMessage,
  encodeMessage,
  enumeration,
  MaxLengthError,
  message,
  streamMessage,
} from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface SyncMessage {
  kind: SyncMessage.Kind
  events: Uint8Array<ArrayBuffer>[]
}

export namespace SyncMessage {
  export enum Kind {
    REQUEST = 'REQUEST',
    RESPONSE = 'RESPONSE',
  }

  enum __KindValues {
    REQUEST = 0,
    RESPONSE = 1,
  }

  export namespace Kind {
    export const codec = (): Codec<Kind> => {
      return enumeration<Kind>(__KindValues)
    }
  }

  let _codec: Codec<SyncMessage>

  export const codec = (): Codec<SyncMessage> => {
    if (_codec == null) {
      _codec = message<SyncMessage>(
        (obj, w, opts = {}) => {
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

          if (opts.lengthDelimited !== false) {
            w.ldelim()
          }
        },
        (reader, length, opts = {}) => {
          const obj: any = {
            kind: Kind.REQUEST,
            events: [],
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
              default: {
                reader.skipType(tag & 7)
                break
              }
            }
          }

          return obj
        },
        function* (reader, length, prefix, opts = {}) {
          const obj = {
            events: 0,
          }

          const end = length == null ? reader.len : reader.pos + length

          while (reader.pos < end) {
            const tag = reader.uint32()

            switch (tag >>> 3) {
              case 1: {
                yield {
                  field: `${prefix}.kind`,
                  value: SyncMessage.Kind.codec().decode(reader),
                }
                break
              }
              case 2: {
                if (opts.limits?.events != null && obj.events === opts.limits.events) {
                  throw new MaxLengthError(
                    'Streaming decode error - repeated field "events" had too many elements',
                  )
                }

                yield {
                  field: `${prefix}.events[]`,
                  index: obj.events,
                  value: reader.bytes(),
                }

                obj.events++

                break
              }
              default: {
                reader.skipType(tag & 7)
                break
              }
            }
          }
        },
      )
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

  export function encode(obj: Partial<SyncMessage>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncMessage.codec())
  }

  export function decode(buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncMessage>): SyncMessage {
    return decodeMessage(buf, SyncMessage.codec(), opts)
  }

  export function stream(
    buf: Uint8Array | Uint8ArrayList,
    opts?: DecodeOptions<SyncMessage>,
  ): Generator<SyncMessageKindFieldEvent | SyncMessageEventsFieldEvent> {
    return streamMessage(buf, SyncMessage.codec(), opts)
  }
}
