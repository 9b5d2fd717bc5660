/**
 * libp2p's TCP transport, with one change: a dial's abort signal bounds the dial only, never the
 * connection it returns.
 *
 * `@libp2p/tcp` 11 hands the dial's signal to `net.connect`, and Node then destroys the socket
 * whenever that signal aborts, for the socket's whole life. libp2p's dial queue passes a signal
 * that aborts at the caller's timeout or its own per-address one (6 s), and it lets go of that
 * signal only after its bookkeeping of a successful dial (a peer-store write, which waits for the
 * store's lock). On a busy machine a handshake that finished close to the timeout therefore had
 * its connection destroyed a moment after it was made: 32 peer processes starting at once on two
 * cores lost over half of their new connections that way (each `peer:connect` followed by a
 * `peer:disconnect` within seconds, the socket closed with an AbortError), redialled, and kept a
 * section of 32 from ever being fully connected. Here the transport gets a signal of its own that
 * follows the caller's until the dial settles, and no longer after.
 */
import { setMaxListeners } from 'node:events'
import type { Transport } from '@libp2p/interface'
import { type TCPComponents, type TCPOptions, tcp } from '@libp2p/tcp'

/** `tcp(init)`, whose connections outlive the signal they were dialled with. */
export function sectionTcp(init?: TCPOptions): (components: TCPComponents) => Transport {
  const create = tcp(init)
  return (components) => {
    const transport = create(components)
    const dial = transport.dial.bind(transport)
    transport.dial = async (ma, options) => {
      const controller = new AbortController()
      // The upgrader's steps (encryption, muxer negotiation) each listen to it.
      setMaxListeners(Number.POSITIVE_INFINITY, controller.signal)
      const outer = options.signal
      const forward = (): void => controller.abort(outer.reason)
      if (outer.aborted) forward()
      else outer.addEventListener('abort', forward, { once: true })
      try {
        return await dial(ma, { ...options, signal: controller.signal })
      } finally {
        outer.removeEventListener('abort', forward)
      }
    }
    return transport
  }
}
