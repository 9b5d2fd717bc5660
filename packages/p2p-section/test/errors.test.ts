import '../src/polyfill.js'
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { StreamAbortEvent, StreamCloseEvent, StreamResetError, StreamResetEvent } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { LinkError, toError } from '../src/errors.js'

describe('toError', () => {
  it('says what a stream close event carries, keeping the carried error name', () => {
    const reset = new StreamResetError('the stream has been reset')
    const error = toError(new StreamResetEvent(reset))
    assert.equal(error.name, 'StreamResetError')
    assert.equal(error.message, "stream closed by the remote peer ('close' event): the stream has been reset")
    assert.equal(error.cause, reset)

    const aborted = toError(new StreamAbortEvent(new Error('write timed out')))
    assert.equal(aborted.message, "stream closed on our side ('close' event): write timed out")
  })

  it('turns a clean close, an odd payload and a bare event into link errors with a message', () => {
    const clean = toError(new StreamCloseEvent(false))
    assert.ok(clean instanceof LinkError)
    assert.equal(clean.code, 'ConnectionClosed')
    assert.match(clean.message, /^stream closed by the remote peer \('close' event\) while a message/)

    const odd = toError(new StreamCloseEvent(true, 'gone' as unknown as Error))
    assert.ok(odd instanceof LinkError)
    assert.equal(odd.code, 'LinkFailure')
    assert.equal(odd.message, "stream closed on our side ('close' event): gone")

    assert.match(toError(new Event('error')).message, /^'error' event/)
  })

  it('leaves errors alone and stringifies anything else', () => {
    const error = new Error('x')
    assert.equal(toError(error), error)
    assert.equal(toError('text').message, 'text')
    assert.equal(toError(undefined).message, 'undefined')
  })

  it('describes what a write cut short by a remote reset rejects with (was "[object Event]")', async () => {
    const node = () =>
      createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
      })
    const [writer, reader] = await Promise.all([node(), node()])
    try {
      // The reader reads nothing (the writer's window fills, so its write waits for 'drain'),
      // then resets the stream.
      await reader.handle('/test/reset/1.0.0', (stream) => {
        stream.pause()
        setTimeout(() => stream.abort(new Error('gone')), 200)
      })
      const stream = await writer.dialProtocol(reader.getMultiaddrs()[0], '/test/reset/1.0.0')
      const reason: unknown = await lpStream(stream)
        .write(new Uint8Array(4 * 1024 * 1024))
        .then(
          () => assert.fail('the write completed'),
          (r: unknown) => r,
        )
      assert.ok(reason instanceof Event, 'libp2p rejects the write with the close event itself')
      assert.equal(String(reason), '[object Event]')
      const error = toError(reason)
      assert.equal(error.name, 'StreamResetError')
      assert.match(error.message, /^stream closed by the remote peer \('close' event\): .*reset/)
    } finally {
      await Promise.all([writer.stop(), reader.stop()])
    }
  })
})
