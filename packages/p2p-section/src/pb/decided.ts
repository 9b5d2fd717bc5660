import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface DecidedRequest {
  from: bigint
  to: bigint
  keys: Uint8Array<ArrayBuffer>[]
}

export namespace DecidedRequest {
  let _codec: Codec<DecidedRequest>

  export const codec = (): Codec<DecidedRequest> => {
    if (_codec == null) {
      _codec = message<DecidedRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.from != null && obj.from !== 0n)) {
          w.uint32(8)
          w.uint64(obj.from)
        }

        if ((obj.to != null && obj.to !== 0n)) {
          w.uint32(16)
          w.uint64(obj.to)
        }

        if (obj.keys != null && obj.keys.length > 0) {
          for (const value of obj.keys) {
            w.uint32(26)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          from: 0n,
          to: 0n,
          keys: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.from = reader.uint64()
              break
            }
            case 2: {
              obj.to = reader.uint64()
              break
            }
            case 3: {
              if (opts.limits?.keys != null && obj.keys.length === opts.limits.keys) {
                throw new MaxLengthError('Decode error - repeated field "keys" had too many elements')
              }

              obj.keys.push(reader.bytes())
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
          keys: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.from`,
                value: reader.uint64()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.to`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              if (opts.limits?.keys != null && obj.keys === opts.limits.keys) {
                throw new MaxLengthError('Streaming decode error - repeated field "keys" had too many elements')
              }

              yield {
                field: `${prefix}.keys[]`,
                index: obj.keys,
                value: reader.bytes()
              }

              obj.keys++

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

  export interface DecidedRequestFromFieldEvent {
    field: '$.from'
    value: bigint
  }

  export interface DecidedRequestToFieldEvent {
    field: '$.to'
    value: bigint
  }

  export interface DecidedRequestKeysFieldEvent {
    field: '$.keys[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<DecidedRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, DecidedRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DecidedRequest>): DecidedRequest {
    return decodeMessage(buf, DecidedRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DecidedRequest>): Generator<DecidedRequestFromFieldEvent | DecidedRequestToFieldEvent | DecidedRequestKeysFieldEvent> {
    return streamMessage(buf, DecidedRequest.codec(), opts)
  }
}

export interface DecidedAnswer {
  status: DecidedAnswer.Status
  retainedFrom: bigint
  found: DecidedAnswer.Found[]
}

export namespace DecidedAnswer {
  export enum Status {
    OK = 'OK',
    NOT_RETAINED = 'NOT_RETAINED',
    NOT_READY = 'NOT_READY'
  }

  enum __StatusValues {
    OK = 0,
    NOT_RETAINED = 1,
    NOT_READY = 2
  }

  export namespace Status {
    export const codec = (): Codec<Status> => {
      return enumeration<Status>(__StatusValues)
    }
  }

  export interface Found {
    key: Uint8Array<ArrayBuffer>
    position: bigint
  }

  export namespace Found {
    let _codec: Codec<Found>

    export const codec = (): Codec<Found> => {
      if (_codec == null) {
        _codec = message<Found>((obj, w, opts = {}) => {
          if (opts.lengthDelimited !== false) {
            w.fork()
          }

          if ((obj.key != null && obj.key.byteLength > 0)) {
            w.uint32(10)
            w.bytes(obj.key)
          }

          if ((obj.position != null && obj.position !== 0n)) {
            w.uint32(16)
            w.uint64(obj.position)
          }

          if (opts.lengthDelimited !== false) {
            w.ldelim()
          }
        }, (reader, length, opts = {}) => {
          const obj: any = {
            key: uint8ArrayAlloc(0),
            position: 0n
          }

          const end = length == null ? reader.len : reader.pos + length

          while (reader.pos < end) {
            const tag = reader.uint32()

            switch (tag >>> 3) {
              case 1: {
                obj.key = reader.bytes()
                break
              }
              case 2: {
                obj.position = reader.uint64()
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
                  field: `${prefix}.key`,
                  value: reader.bytes()
                }
                break
              }
              case 2: {
                yield {
                  field: `${prefix}.position`,
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

    export interface FoundKeyFieldEvent {
      field: '$.key'
      value: Uint8Array<ArrayBuffer>
    }

    export interface FoundPositionFieldEvent {
      field: '$.position'
      value: bigint
    }

    export function encode (obj: Partial<Found>): Uint8Array<ArrayBuffer> {
      return encodeMessage(obj, Found.codec())
    }

    export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Found>): Found {
      return decodeMessage(buf, Found.codec(), opts)
    }

    export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Found>): Generator<FoundKeyFieldEvent | FoundPositionFieldEvent> {
      return streamMessage(buf, Found.codec(), opts)
    }
  }

  let _codec: Codec<DecidedAnswer>

  export const codec = (): Codec<DecidedAnswer> => {
    if (_codec == null) {
      _codec = message<DecidedAnswer>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.status != null && __StatusValues[obj.status] !== 0) {
          w.uint32(8)
          DecidedAnswer.Status.codec().encode(obj.status, w)
        }

        if ((obj.retainedFrom != null && obj.retainedFrom !== 0n)) {
          w.uint32(16)
          w.uint64(obj.retainedFrom)
        }

        if (obj.found != null && obj.found.length > 0) {
          for (const value of obj.found) {
            w.uint32(26)
            DecidedAnswer.Found.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          status: Status.OK,
          retainedFrom: 0n,
          found: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.status = DecidedAnswer.Status.codec().decode(reader)
              break
            }
            case 2: {
              obj.retainedFrom = reader.uint64()
              break
            }
            case 3: {
              if (opts.limits?.found != null && obj.found.length === opts.limits.found) {
                throw new MaxLengthError('Decode error - repeated field "found" had too many elements')
              }

              obj.found.push(DecidedAnswer.Found.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.found$
              }))
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
          found: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.status`,
                value: DecidedAnswer.Status.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.retainedFrom`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              if (opts.limits?.found != null && obj.found === opts.limits.found) {
                throw new MaxLengthError('Streaming decode error - repeated field "found" had too many elements')
              }

              for (const evt of DecidedAnswer.Found.codec().stream(reader, reader.uint32(), `${prefix}.found[]`, {
                limits: opts.limits?.found$
              })) {
                yield {
                  ...evt,
                  index: obj.found
                }
              }

              obj.found++

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

  export interface DecidedAnswerStatusFieldEvent {
    field: '$.status'
    value: DecidedAnswer.Status
  }

  export interface DecidedAnswerRetainedFromFieldEvent {
    field: '$.retainedFrom'
    value: bigint
  }

  export interface DecidedAnswerFoundKeyFieldEvent {
    field: '$.found[].key'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface DecidedAnswerFoundPositionFieldEvent {
    field: '$.found[].position'
    value: bigint
    index: number
  }

  export function encode (obj: Partial<DecidedAnswer>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, DecidedAnswer.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DecidedAnswer>): DecidedAnswer {
    return decodeMessage(buf, DecidedAnswer.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DecidedAnswer>): Generator<DecidedAnswerStatusFieldEvent | DecidedAnswerRetainedFromFieldEvent | DecidedAnswerFoundKeyFieldEvent | DecidedAnswerFoundPositionFieldEvent> {
    return streamMessage(buf, DecidedAnswer.codec(), opts)
  }
}
