/**
 * Who may use the control API: the checks a request passes before it is routed.
 *
 * - `Host` must name this API. A web page whose DNS name is rebound to 127.0.0.1 (DNS rebinding)
 *   reaches a local port as a same-origin page, but the browser still sends the page's own name
 *   as `Host`: only the address the API serves, the loopback names when it serves on loopback, and
 *   the names given with `--api-host` are accepted (421 otherwise).
 * - A write (any method but GET, HEAD and OPTIONS) from a web page of another origin is refused
 *   (403): an `Origin` that is not one of the accepted hosts over http, or `Sec-Fetch-Site:
 *   cross-site`. (POST bodies must also be `application/json`, which a page cannot send
 *   cross-origin without a preflight we never answer; this check does not rely on it.)
 * - With a token, every request needs `Authorization: Bearer <token>` (401 otherwise), compared in
 *   constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { isIP } from 'node:net'

/** Names a loopback API also answers to (with its port). */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]']
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]'
}

/** A host as it appears in a `Host` header: IPv6 in brackets, lowercase. */
function hostName(host: string): string {
  return (isIP(host) === 6 ? `[${host}]` : host).toLowerCase()
}

export interface AccessRules {
  /** Accepted `Host` values (lowercase `name:port`, or `name` alone for port 80). */
  readonly hosts: ReadonlySet<string>
  /** The bearer token every request must carry; none when undefined. */
  readonly token?: string
}

/**
 * The `Host` values an API bound to `bound` (as `--api` gave `configured`) accepts: the address
 * and the configured name with the port (never the unspecified 0.0.0.0 or ::), the loopback names
 * when it serves on loopback, and `extraNames` (`NAME` with the API's port, or `NAME:PORT` as
 * given; a name without a port is also accepted bare when the port is 80).
 */
export function acceptedHosts(
  bound: { readonly address: string; readonly port: number },
  configured: string,
  extraNames: readonly string[] = [],
): Set<string> {
  const hosts = new Set<string>()
  const add = (name: string, port: number): void => {
    hosts.add(`${name}:${port}`)
    if (port === 80) hosts.add(name)
  }
  for (const host of [bound.address, configured]) {
    if (!isUnspecified(host)) add(hostName(host), bound.port)
  }
  if (isLoopbackHost(bound.address)) for (const name of LOOPBACK_NAMES) add(name, bound.port)
  for (const extra of extraNames) {
    const name = extra.toLowerCase()
    if (/:\d+$/.test(name)) hosts.add(name)
    else add(name, bound.port)
  }
  return hosts
}

export interface AccessRefusal {
  readonly status: 401 | 403 | 421
  readonly code: 'Unauthorized' | 'CrossOrigin' | 'UnknownHost'
  readonly message: string
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/** Whether `authorization` carries `token` (compared in constant time, whatever the lengths). */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '')
  // Hashing first gives equal lengths, so timingSafeEqual reveals nothing about the token.
  return timingSafeEqual(digest(match?.[1] ?? ''), digest(token)) && match !== null
}

/** Why a request is refused, or undefined when it may proceed. */
export function checkAccess(
  method: string,
  headers: IncomingHttpHeaders,
  rules: AccessRules,
): AccessRefusal | undefined {
  const host = headers.host?.toLowerCase()
  if (host === undefined || !rules.hosts.has(host)) {
    return {
      status: 421,
      code: 'UnknownHost',
      message:
        host === undefined
          ? 'the request has no Host header'
          : `this API does not answer to the host ${JSON.stringify(host)} (a defence against DNS rebinding; ` +
            'parsec-peer start --api-host NAME adds a name)',
    }
  }
  if (rules.token !== undefined && !bearerMatches(headers.authorization, rules.token)) {
    return {
      status: 401,
      code: 'Unauthorized',
      message:
        headers.authorization === undefined
          ? 'this API needs an Authorization: Bearer <token> header'
          : 'the bearer token is wrong',
    }
  }
  if (!SAFE_METHODS.has(method)) {
    if (headers['sec-fetch-site'] === 'cross-site') {
      return { status: 403, code: 'CrossOrigin', message: `a cross-site ${method} is refused` }
    }
    const origin = headers.origin
    if (origin !== undefined && !isAcceptedOrigin(origin, rules.hosts)) {
      return {
        status: 403,
        code: 'CrossOrigin',
        message: `a ${method} from the origin ${JSON.stringify(origin)} is refused`,
      }
    }
  }
  return undefined
}

function isAcceptedOrigin(origin: string, hosts: ReadonlySet<string>): boolean {
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false // includes "null" (sandboxed frames, file: pages, redirects)
  }
  return url.protocol === 'http:' && hosts.has(url.host)
}
