/**
 * Length-prefixed framing for every protocol of the service, with one size limit: the largest
 * frame (`maxDataLength`, refused from its length prefix) and the read buffer (`maxBufferSize`,
 * 4 MiB by default in `lpStream`: a larger frame once failed every sync with "Read buffer
 * overflow") are set from the same number.
 */
import type { Stream } from '@libp2p/interface'
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils'

/** Room for the length prefix (a varint of at most 10 bytes) beside the largest frame. */
const PREFIX_BYTES = 16

export type FramedStream = LengthPrefixedStream<Stream>

export function framed(stream: Stream, maxMessageBytes: number): FramedStream {
  return lpStream(stream, { maxDataLength: maxMessageBytes, maxBufferSize: maxMessageBytes + PREFIX_BYTES })
}
