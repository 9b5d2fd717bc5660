/**
 * A client of a peer's control API over a Unix socket (the relay of api-relay.ts into the peer's
 * network namespace). Requests name the API's own address in their Host header, as the API requires.
 */
import { request } from 'node:http'
import type { BlocksJson, StatusJson } from 'parsec-peer/local-section'

const REQUEST_TIMEOUT_MS = 30_000

export class SocketApiClient {
  constructor(
    readonly socketPath: string,
    /** The API's HOST:PORT inside the namespace. */
    readonly apiAddress: string,
  ) {}

  /** Resolves with the parsed JSON answer; rejects on an HTTP error status or after the timeout. */
  call<T>(method: string, path: string, body?: unknown, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    const text = body === undefined ? undefined : JSON.stringify(body)
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: {
            host: this.apiAddress,
            ...(text === undefined ? {} : { 'content-type': 'application/json' }),
          },
          timeout: timeoutMs,
        },
        (response) => {
          let data = ''
          response.setEncoding('utf8')
          response.on('data', (chunk: string) => (data += chunk))
          response.on('end', () => {
            if ((response.statusCode ?? 500) >= 400) {
              reject(new Error(`${method} ${path}: ${response.statusCode} ${data}`))
              return
            }
            try {
              resolve(JSON.parse(data) as T)
            } catch (error) {
              reject(error)
            }
          })
          response.on('error', reject)
        },
      )
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)))
      req.on('error', reject)
      req.end(text)
    })
  }

  status(): Promise<StatusJson> {
    return this.call('GET', '/status')
  }

  /** Votes for the payloads in order; resolves with the number accepted. */
  async vote(payloads: readonly Uint8Array[]): Promise<number> {
    const body = { payloads: payloads.map((p) => Buffer.from(p).toString('hex')) }
    return (await this.call<{ accepted: number }>('POST', '/votes', body)).accepted
  }

  /** Blocks from `from` on; with `wait`, long-polls up to that many ms for the first one. */
  blocks(from: number, wait = 0): Promise<BlocksJson> {
    return this.call('GET', `/blocks?from=${from}&wait=${wait}`, undefined, wait + REQUEST_TIMEOUT_MS)
  }
}
