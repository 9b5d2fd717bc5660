/**
 * `parsec-peer leave --api HOST:PORT`: makes a running peer leave its section gracefully, through
 * its control API (`POST /leave`); with `--wait`, until the peer reports `removed` or exits.
 */
import { readApiTokenFile } from '../api-token.js'
import { intOption, parse, UsageError } from '../args.js'
import { ApiClient, ApiRequestError } from '../local-section.js'
import { parseHostPort } from './start.js'

const HELP = `usage: parsec-peer leave --api HOST:PORT [--api-token FILE] [--wait [--timeout MS]] [--json]

Asks the peer whose control API is at HOST:PORT (parsec-peer start --api) to leave its section
gracefully: it votes its own Remove, keeps taking part until the section agrees on it, serves the
drain, then its process exits 0. A peer stopped by SIGINT or SIGTERM instead stays a member.
  --api-token FILE  the API's bearer token (the file given to start --api-token).
  --wait            wait until the peer has left (its status says removed, or it exited), at most
                    --timeout MS (default 120000).
  --json            print {"leaving": true, "peerId", "sectionId"} (and, with --wait, "left": true),
                    or {"leaving": false, "error": {"code", "reason", "message"}} when refused.
Exit 0 when the peer is leaving (with --wait: has left); 1 when it refused (e.g. reason LastMember:
the last member cannot leave, AlreadyLeaving), could not be reached, or did not leave in time; 2 on
bad arguments.`

const POLL_MS = 250

export const leaveCommand = {
  summary: 'make a running peer leave its section gracefully',
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      api: { type: 'string' },
      'api-token': { type: 'string' },
      wait: { type: 'boolean' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    if (values.api === undefined) throw new UsageError('--api HOST:PORT is required')
    const { host, port } = parseHostPort(values.api as string, '--api')
    if (values.timeout !== undefined && values.wait !== true) throw new UsageError('--timeout needs --wait')
    const timeoutMs = intOption(values, 'timeout', 120_000, 1, 2 ** 31 - 1)
    const token =
      values['api-token'] === undefined ? undefined : readApiTokenFile(values['api-token'] as string)
    const json = values.json === true
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
    const api = new ApiClient(address, token)

    let peerId: string
    let sectionId: string
    try {
      ;({ peerId, sectionId } = await api.status())
      await api.leave()
    } catch (error) {
      return refused(error, address, json)
    }
    if (values.wait !== true) {
      print(
        json,
        { leaving: true, peerId, sectionId },
        `leaving: peer ${peerId} is leaving section ${sectionId}; it exits once the section agrees`,
      )
      return 0
    }
    if (!json)
      console.log(`leaving: peer ${peerId} is leaving section ${sectionId}; waiting until it has left`)
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      let self: string
      try {
        self = (await api.status()).self
      } catch (error) {
        // The API is gone or closing: the peer is stopping after its drain.
        if (error instanceof ApiRequestError && error.code !== 'ShuttingDown')
          return refused(error, address, json)
        self = 'removed'
      }
      if (self === 'removed') {
        print(
          json,
          { leaving: true, peerId, sectionId, left: true },
          `left: peer ${peerId} left section ${sectionId}`,
        )
        return 0
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
    print(
      json,
      { leaving: true, peerId, sectionId, left: false },
      `peer ${peerId} is still leaving after ${timeoutMs} ms`,
    )
    console.error(`parsec-peer leave: peer ${peerId} has not left within ${timeoutMs} ms`)
    return 1
  },
}

function print(json: boolean, fields: Record<string, unknown>, human: string): void {
  console.log(json ? JSON.stringify(fields) : human)
}

/** A refusal (409 LeaveRefused with its reason), another API error, or an unreachable API: exit 1. */
function refused(error: unknown, address: string, json: boolean): number {
  let code: string
  let message: string
  let reason: string | undefined
  if (error instanceof ApiRequestError) {
    code = error.code
    message = error.detail
    reason = error.reason
  } else {
    code = 'Unreachable'
    const cause = (error as { cause?: { code?: string } }).cause?.code
    message = `no answer from the API at ${address}: ${cause ?? (error as Error).message}`
  }
  if (json) {
    console.log(
      JSON.stringify({
        leaving: false,
        error: { code, ...(reason === undefined ? {} : { reason }), message },
      }),
    )
  }
  console.error(`parsec-peer leave: ${code}${reason === undefined ? '' : ` (${reason})`}: ${message}`)
  return 1
}
