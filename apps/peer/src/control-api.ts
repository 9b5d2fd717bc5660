/**
 * The local control API of `parsec-peer start` (node:http, JSON in and out):
 *
 * - `POST /votes` `{"payload": HEX}` or `{"payloads": [HEX, ...]}` → 202 `{"accepted": n}`
 * - `GET /blocks?from=N&limit=M&wait=MS` → `{"from", "next", "retainedFrom", "blocks": [...]}`
 *   (long-polls with wait): the delivered blocks kept from position `from` on (`from` echoes the
 *   query), `next` the position after the last one answered. `retainedFrom` is the first block the
 *   peer keeps (0 unless it runs with `--block-retention`): a `from` before it answers the blocks
 *   from `retainedFrom` on (the earlier ones are skipped; other members may keep them).
 * - `POST /transactions` `{"txs": [HEX, ...]}` → 202 `{"accepted": n}` once every transaction is in
 *   a voted batch (`section.submit`, Single-mode sections; 409 `TransactionsNeedSingleMode` in a
 *   Supermajority one, 429 `TransactionQueueFull` when the peer holds too many not yet voted)
 * - `GET /transactions?from=N&limit=M&wait=MS` → `{"from", "next", "retainedFrom", "transactions":
 *   [{"position", "index", "tx", "proposer", "deliveredAt"}]}`: the transactions of the delivered
 *   blocks kept from position `from` on, whole blocks until at least `limit` of them; `next` is
 *   the position to ask from next (long-polls with wait for a block at or after `from`)
 * - `GET /status` → the section status and its membership status (`self`, `members`: the agreed
 *   voters, `seq` and `head` of the membership chain, `candidates`, `suspected`) plus `{"listen",
 *   "api", "uptimeMs", "memory"}`; `?gc=1` runs a full garbage collection before reading the memory
 *   when node exposes `gc` (a diagnostic)
 * - `POST /leave` (no body, or `{}`) → 202 `{"leaving": true}`: the peer leaves gracefully (votes
 *   its own Remove, drains) and its process exits once its removal is agreed; 409 `LeaveRefused`
 *   with a `reason` (`LastMember`, `AlreadyLeaving`, `Removed`, `NotAMember`, `GenesisNotAgreed`)
 *
 * - `GET /health` → 200 `{"healthy": true, ...}` when the peer runs as a member and reaches a
 *   supermajority of the members (itself included), else 503 with a `reason` (`NotRunning`,
 *   `NotMember`, `Isolated`) and a `message` (health.ts)
 * - `GET /graph?format=dot|svg&last=N` → the gossip graph in the reference's DOT layout (the whole
 *   graph by default, which `parsec-peer replay` reads back; `last=N`: a view of the last N events,
 *   not replayable), or rendered to SVG (graph-render.ts)
 * - `GET /` and `GET /live.js`: the live view (live-view.ts), a page reading the routes below;
 *   static, so served without the token
 * - `GET /metrics` → Prometheus text: libp2p's metrics and the section's `parsec_section_*`
 *   (404 `MetricsOff` when the peer runs without them)
 *
 * Errors are `{"error": {"code", "message"}}` with a 4xx/5xx status. Before routing, every request
 * passes the checks of api-access.ts (its Host, cross-origin writes, the optional bearer token).
 * POST bodies must be declared `application/json`, so a web page cannot forge votes with a
 * cross-origin "simple" request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type DeliveredBlock,
  isSectionError,
  type LeaveRefusedError,
  type ParsecSection,
} from '@parsec-section/p2p-section'
import { isParsecError } from '@parsec-section/parsec-core'
import { type AccessRules, acceptedHosts, checkAccess } from './api-access.js'
import { API_LIMITS } from './api-limits.js'
import { blockToJson, type PeerNames } from './block-json.js'
import { dotToSvg } from './graph-render.js'
import { healthOf } from './health.js'
import { LIVE_VIEW_CSP, LIVE_VIEW_HTML, LIVE_VIEW_SCRIPT } from './live-view.js'
import { processMemory } from './process-memory.js'
import { digestsByBlock } from './transactions-digest.js'

export { API_LIMITS }

export interface ControlApiOptions {
  readonly host: string
  readonly port: number
  readonly section: ParsecSection
  readonly names: PeerNames
  /** When this process delivered the block at a position (null: restored at startup). */
  readonly deliveredAt: (position: number) => number | null
  /** The node's current listen multiaddrs. */
  readonly listen: () => string[]
  readonly startedAt: number
  /** More names the API answers to in the `Host` header (`NAME` or `NAME:PORT`; `--api-host`). */
  readonly hostNames?: readonly string[]
  /** When set, every request needs `Authorization: Bearer <token>`. */
  readonly token?: string
  /** `POST /leave`: starts leaving (default `section.leave()`); rejects as `section.leave()` does. */
  readonly leave?: () => Promise<void>
  /** `GET /metrics`: the registry's text exposition (none: the peer runs without metrics). */
  readonly metrics?: () => Promise<{ readonly contentType: string; readonly text: string }>
}

export interface ControlApi {
  /** `host:port` actually bound (`[::1]:port` for IPv6). */
  readonly address: string
  close(): Promise<void>
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

const ROUTES: Record<string, string | readonly string[]> = {
  '/votes': 'POST',
  '/blocks': 'GET',
  '/transactions': ['POST', 'GET'],
  '/status': 'GET',
  '/leave': 'POST',
  '/health': 'GET',
  '/graph': 'GET',
  '/metrics': 'GET',
}

/** The live view (live-view.ts): static, served without a token. */
const STATIC: Record<string, { readonly type: string; readonly body: string }> = {
  '/': { type: 'text/html; charset=utf-8', body: LIVE_VIEW_HTML },
  '/live.js': { type: 'text/javascript; charset=utf-8', body: LIVE_VIEW_SCRIPT },
  // Browsers ask for it: no icon, rather than a 401 in the page's console.
  '/favicon.ico': { type: 'image/x-icon', body: '' },
}

/** A `POST /leave` body is empty or `{}`. */
const MAX_LEAVE_BODY_BYTES = 1024

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end()
    return
  }
  const text = `${JSON.stringify(body)}\n`
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  })
  res.end(text)
}

function sendError(res: ServerResponse, error: ApiError): void {
  const headers: Record<string, string> = {}
  if (error.status === 413) headers.connection = 'close'
  if (error.status === 405) headers.allow = error.extra.allow as string
  if (error.status === 401) headers['www-authenticate'] = 'Bearer'
  const { allow: _allow, ...extra } = error.extra
  send(res, error.status, { error: { code: error.code, message: error.message, ...extra } }, headers)
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > limit) {
      reject(new ApiError(413, 'BodyTooLarge', `the request body exceeds ${limit} bytes`))
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    req.on('data', (chunk: Buffer) => {
      if (done) return
      size += chunk.length
      if (size > limit) {
        done = true
        reject(new ApiError(413, 'BodyTooLarge', `the request body exceeds ${limit} bytes`))
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      if (done) return
      done = true
      resolve(Buffer.concat(chunks))
    })
    req.on('error', (error) => {
      if (done) return
      done = true
      reject(error)
    })
  })
}

/** A POST body declared `application/json` (415 otherwise), at most `maxBodyBytes`. */
async function readJsonBody(req: IncomingMessage, route: string): Promise<Buffer> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  if (type !== 'application/json') {
    throw new ApiError(415, 'UnsupportedMediaType', `POST ${route} needs content-type application/json`)
  }
  return readBody(req, API_LIMITS.maxBodyBytes)
}

/**
 * Waits for every item's promise: answers 202 `{"accepted": n}` when all resolved, else returns the
 * first refusal (`extra`: `accepted` and the `refused` indexes) for the caller to classify.
 */
async function settleAll(
  res: ServerResponse,
  items: readonly Promise<void>[],
  what: string,
): Promise<{ error: unknown; message: string; extra: Record<string, unknown> } | undefined> {
  const results = await Promise.allSettled(items)
  const refused = results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []))
  const accepted = results.length - refused.length
  if (refused.length === 0) {
    send(res, 202, { accepted })
    return undefined
  }
  const error = (results[refused[0]] as PromiseRejectedResult).reason
  const message = `${what} ${refused[0]}: ${(error as Error)?.message ?? String(error)}`
  return { error, message, extra: { accepted, refused } }
}

/** Validates a POST /votes body completely before anything is voted. */
export function parseVotes(body: Buffer): Uint8Array[] {
  const { payload, payloads } = jsonObject(
    body,
    ['payload', 'payloads'],
    'the body must be {"payload": HEX} or {"payloads": [HEX, ...]}',
  )
  let list: unknown[]
  if (payload !== undefined && payloads !== undefined) {
    throw new ApiError(400, 'InvalidBody', 'give either "payload" or "payloads", not both')
  } else if (payload !== undefined) {
    list = [payload]
  } else if (Array.isArray(payloads)) {
    list = payloads
    if (list.length === 0) throw new ApiError(400, 'InvalidBody', '"payloads" is empty')
    if (list.length > API_LIMITS.maxPayloadsPerRequest) {
      throw new ApiError(
        400,
        'InvalidBody',
        `at most ${API_LIMITS.maxPayloadsPerRequest} payloads per request`,
      )
    }
  } else {
    throw new ApiError(400, 'InvalidBody', 'the body must be {"payload": HEX} or {"payloads": [HEX, ...]}')
  }
  // An empty payload carries nothing to agree on.
  return hexItems(list, (i) => (payload !== undefined ? '"payload"' : `"payloads"[${i}]`), {
    maxBytes: API_LIMITS.maxPayloadBytes,
    tooLarge: 'PayloadTooLarge',
    empty: 'EmptyPayload',
  })
}

/** The body as a JSON object with no field but `fields` (400 `InvalidJson`, `InvalidBody` otherwise). */
function jsonObject(body: Buffer, fields: readonly string[], shape: string): Record<string, unknown> {
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch (error) {
    throw new ApiError(400, 'InvalidJson', `the body is not JSON: ${(error as Error).message}`)
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ApiError(400, 'InvalidBody', shape)
  }
  const unknown = Object.keys(json).filter((key) => !fields.includes(key))
  if (unknown.length > 0)
    throw new ApiError(400, 'InvalidBody', `unknown field ${JSON.stringify(unknown[0])}`)
  return json as Record<string, unknown>
}

/** Each item as the bytes of a non-empty even-length hex string of at most `maxBytes`. */
function hexItems(
  list: readonly unknown[],
  where: (index: number) => string,
  rules: { readonly maxBytes: number; readonly tooLarge: string; readonly empty: string },
): Uint8Array[] {
  return list.map((item, i) => {
    const at = where(i)
    if (typeof item !== 'string') throw new ApiError(400, 'InvalidHex', `${at} must be a hex string`)
    if (item.length / 2 > rules.maxBytes) {
      throw new ApiError(
        413,
        rules.tooLarge,
        `${at} has ${item.length / 2} bytes; the limit is ${rules.maxBytes}`,
      )
    }
    if (item.length === 0) throw new ApiError(400, rules.empty, `${at} is empty`)
    // Buffer's hex decoding stops at the first character that is not one: a shorter result
    // (or an odd length) is not hex. Copied out of Buffer's shared pool.
    const decoded = Buffer.from(item, 'hex')
    if (item.length % 2 !== 0 || decoded.length * 2 !== item.length) {
      throw new ApiError(400, 'InvalidHex', `${at} is not an even-length hex string`)
    }
    const bytes = new Uint8Array(decoded.length)
    bytes.set(decoded)
    return bytes
  })
}

/** Validates a POST /transactions body completely before anything is submitted. */
export function parseTransactions(body: Buffer): Uint8Array[] {
  const { txs } = jsonObject(body, ['txs'], 'the body must be {"txs": [HEX, ...]}')
  if (!Array.isArray(txs)) throw new ApiError(400, 'InvalidBody', 'the body must be {"txs": [HEX, ...]}')
  if (txs.length === 0) throw new ApiError(400, 'InvalidBody', '"txs" is empty')
  if (txs.length > API_LIMITS.maxTransactionsPerRequest) {
    throw new ApiError(400, 'InvalidBody', `at most ${API_LIMITS.maxTransactionsPerRequest} txs per request`)
  }
  return hexItems(txs, (i) => `"txs"[${i}]`, {
    maxBytes: API_LIMITS.maxTransactionBytes,
    tooLarge: 'TransactionTooLarge',
    empty: 'EmptyTransaction',
  })
}

/** Checks a POST /leave body: nothing, or the JSON object `{}` (content-type application/json). */
export function parseLeave(body: Buffer, contentType: string | undefined): void {
  if (body.length === 0) return
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase()
  if (type !== 'application/json') {
    throw new ApiError(415, 'UnsupportedMediaType', 'a POST /leave body needs content-type application/json')
  }
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch (error) {
    throw new ApiError(400, 'InvalidJson', `the body is not JSON: ${(error as Error).message}`)
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json) || Object.keys(json).length > 0) {
    throw new ApiError(400, 'InvalidBody', 'POST /leave takes no body, or {}')
  }
}

function queryInt(params: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = params.get(name)
  if (raw === null) return fallback
  if (!/^\d+$/.test(raw)) throw new ApiError(400, 'InvalidQuery', `${name} must be an unsigned integer`)
  const value = Number(raw)
  if (!Number.isSafeInteger(value))
    throw new ApiError(400, 'InvalidQuery', `${name} must be an unsigned integer`)
  return Math.min(value, max)
}

export async function startControlApi(options: ControlApiOptions): Promise<ControlApi> {
  const { section, names } = options
  /** Long-polls waiting for a block at or after a position. */
  const waiters = new Set<{ from: number; wake: () => void }>()
  let closing = false
  const onBlock = (event: CustomEvent<DeliveredBlock>): void => {
    for (const waiter of waiters) if (event.detail.position >= waiter.from) waiter.wake()
  }
  section.addEventListener('block', onBlock)

  /** Resolves at the first block at or after `from`, after `ms`, or when the client goes away. */
  function waitForBlock(from: number, ms: number, res: ServerResponse): Promise<void> {
    return new Promise((resolve) => {
      const waiter = {
        from,
        wake: () => {
          clearTimeout(timer)
          waiters.delete(waiter)
          res.off('close', waiter.wake)
          resolve()
        },
      }
      const timer = setTimeout(waiter.wake, ms)
      waiters.add(waiter)
      res.on('close', waiter.wake)
    })
  }

  async function handleVotes(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const payloads = parseVotes(await readJsonBody(req, '/votes'))
    // All votes are cast at once, in order (each vote's engine call runs before `vote` first
    // awaits), so one datastore write persists them all instead of one write per payload.
    const refusal = await settleAll(
      res,
      payloads.map((payload) => section.vote(payload)),
      'payload',
    )
    if (refusal === undefined) return
    const { error, message, extra } = refusal
    // A vote we already cast, or one the engine refuses because we may not vote (not a voter).
    if (
      isParsecError(error) &&
      (error.code === 'DuplicateVote' ||
        error.code === 'InvalidSelfState' ||
        error.code === 'InvalidArgument')
    ) {
      throw new ApiError(409, error.code, message, extra)
    }
    if (isSectionError(error) && error.code === 'NotStarted')
      throw new ApiError(503, 'NotStarted', message, extra)
    // A payload that would read as a transaction batch (POST /transactions makes those).
    if (isSectionError(error) && error.code === 'ReservedPayload')
      throw new ApiError(409, 'ReservedPayload', message, extra)
    throw new ApiError(500, 'Internal', message, extra)
  }

  async function handleSubmit(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const txs = parseTransactions(await readJsonBody(req, '/transactions'))
    // Submitted at once, in order: they queue in that order and share batches.
    const refusal = await settleAll(
      res,
      txs.map((tx) => section.submit(tx)),
      'tx',
    )
    if (refusal === undefined) return
    const { error, message, extra } = refusal
    if (isSectionError(error)) {
      const status: Record<string, number> = {
        TransactionsNeedSingleMode: 409,
        TransactionQueueFull: 429,
        InvalidArgument: 400,
        NotStarted: 503,
      }
      throw new ApiError(status[error.code] ?? 500, error.code, message, extra)
    }
    throw new ApiError(500, 'Internal', message, extra)
  }

  async function handleTransactions(res: ServerResponse, params: URLSearchParams): Promise<void> {
    const from = queryInt(params, 'from', 0, Number.MAX_SAFE_INTEGER)
    const limit = queryInt(
      params,
      'limit',
      API_LIMITS.defaultTransactionLimit,
      API_LIMITS.maxTransactionLimit,
    )
    const wait = queryInt(params, 'wait', 0, API_LIMITS.maxWaitMs)
    const summary = params.get('summary') ?? '0'
    if (summary !== '0' && summary !== '1') throw new ApiError(400, 'InvalidQuery', 'summary must be 0 or 1')
    if (wait > 0 && limit > 0 && !closing && section.blocks(from, 1).length === 0) {
      await waitForBlock(from, wait, res)
    }
    const retainedFrom = section.retainedFrom
    const txs = limit === 0 ? [] : section.transactions(from, limit)
    const last = txs.at(-1)
    // No transaction in the blocks kept from `from` on: ask next after the last one.
    const next = last?.position ?? section.blocks(from).at(-1)?.position
    const page = {
      from,
      next: limit === 0 || next === undefined ? Math.max(from, retainedFrom) : next + 1,
      retainedFrom,
    }
    if (summary === '1') {
      // Per block, its transactions' count and digest: a client comparing peers reads a few bytes
      // a block, not every transaction.
      const blocks = digestsByBlock(txs).map((b) => ({ ...b, deliveredAt: options.deliveredAt(b.position) }))
      send(res, 200, { ...page, blocks })
      return
    }
    send(res, 200, {
      ...page,
      transactions: txs.map((t) => ({
        position: t.position,
        index: t.index,
        tx: Buffer.from(t.tx.buffer, t.tx.byteOffset, t.tx.byteLength).toString('hex'),
        proposer: t.proposer?.toString() ?? null,
        deliveredAt: options.deliveredAt(t.position),
      })),
    })
  }

  async function handleLeave(req: IncomingMessage, res: ServerResponse): Promise<void> {
    parseLeave(await readBody(req, MAX_LEAVE_BODY_BYTES), req.headers['content-type'])
    try {
      await (options.leave ?? (() => section.leave()))()
    } catch (error) {
      if (isSectionError(error) && error.code === 'LeaveRefused') {
        throw new ApiError(409, 'LeaveRefused', error.message, {
          reason: (error as LeaveRefusedError).reason,
        })
      }
      if (isSectionError(error)) throw new ApiError(503, error.code, error.message)
      throw error
    }
    send(res, 202, { leaving: true })
  }

  async function handleBlocks(res: ServerResponse, params: URLSearchParams): Promise<void> {
    const from = queryInt(params, 'from', 0, Number.MAX_SAFE_INTEGER)
    const limit = queryInt(params, 'limit', API_LIMITS.defaultBlockLimit, API_LIMITS.maxBlockLimit)
    const wait = queryInt(params, 'wait', 0, API_LIMITS.maxWaitMs)
    if (wait > 0 && limit > 0 && !closing && section.blocks(from, 1).length === 0) {
      await waitForBlock(from, wait, res)
    }
    const retainedFrom = section.retainedFrom
    const blocks = section
      .blocks(from, limit)
      .map((b) => blockToJson(b, names, options.deliveredAt(b.position)))
    send(res, 200, { from, next: Math.max(from, retainedFrom) + blocks.length, retainedFrom, blocks })
  }

  async function handleGraph(res: ServerResponse, params: URLSearchParams): Promise<void> {
    const format = params.get('format') ?? 'dot'
    if (format !== 'dot' && format !== 'svg')
      throw new ApiError(400, 'InvalidQuery', 'format must be dot or svg')
    const last = params.has('last') ? queryInt(params, 'last', 0, Number.MAX_SAFE_INTEGER) : undefined
    let dot: string
    try {
      dot = section.graphDot(last === undefined ? {} : { lastEvents: last })
    } catch (error) {
      if (isSectionError(error) && error.code === 'NotStarted')
        throw new ApiError(503, 'NoGraph', error.message)
      throw error
    }
    const text = format === 'dot' ? dot : await dotToSvg(dot)
    res.writeHead(200, {
      'content-type': format === 'dot' ? 'text/vnd.graphviz; charset=utf-8' : 'image/svg+xml',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    })
    res.end(text)
  }

  async function handleMetrics(res: ServerResponse): Promise<void> {
    if (options.metrics === undefined) throw new ApiError(404, 'MetricsOff', 'this peer runs without metrics')
    const { contentType, text } = await options.metrics()
    res.writeHead(200, {
      'content-type': contentType,
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    })
    res.end(text)
  }

  function handleStatus(res: ServerResponse, params: URLSearchParams): void {
    const gc = params.get('gc') ?? '0'
    if (gc !== '0' && gc !== '1') throw new ApiError(400, 'InvalidQuery', 'gc must be 0 or 1')
    const status = section.status()
    const membership = section.membershipStatus()
    send(res, 200, {
      ...status,
      ...membership,
      health: healthOf(status, membership),
      listen: options.listen(),
      api: address,
      uptimeMs: Date.now() - options.startedAt,
      memory: processMemory(gc === '1'),
    })
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://localhost')
    } catch {
      throw new ApiError(400, 'InvalidUrl', 'the request URL is malformed')
    }
    // The live view's page and script hold no data: they need no token (the Host check stays).
    const page = STATIC[url.pathname]
    const refusal = checkAccess(
      req.method ?? '',
      req.headers,
      page === undefined ? access : { hosts: access.hosts },
    )
    if (refusal !== undefined) throw new ApiError(refusal.status, refusal.code, refusal.message)
    if (page !== undefined) {
      if (req.method !== 'GET')
        throw new ApiError(405, 'MethodNotAllowed', `${url.pathname} takes GET`, { allow: 'GET' })
      res.writeHead(200, {
        'content-type': page.type,
        'content-length': Buffer.byteLength(page.body),
        'content-security-policy': LIVE_VIEW_CSP,
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
      })
      res.end(page.body)
      return
    }
    const route = ROUTES[url.pathname]
    if (route === undefined) throw new ApiError(404, 'NotFound', `no route ${url.pathname}`)
    const methods = typeof route === 'string' ? [route] : route
    if (!methods.includes(req.method ?? '')) {
      const allow = methods.join(', ')
      throw new ApiError(
        405,
        'MethodNotAllowed',
        `${url.pathname} takes ${methods.join(' or ')}, not ${req.method}`,
        {
          allow,
        },
      )
    }
    if (closing) throw new ApiError(503, 'ShuttingDown', 'the peer is stopping')
    if (url.pathname === '/votes') await handleVotes(req, res)
    else if (url.pathname === '/blocks') await handleBlocks(res, url.searchParams)
    else if (url.pathname === '/transactions') {
      if (req.method === 'POST') await handleSubmit(req, res)
      else await handleTransactions(res, url.searchParams)
    } else if (url.pathname === '/leave') await handleLeave(req, res)
    else if (url.pathname === '/health') {
      const health = healthOf(section.status(), section.membershipStatus())
      send(res, health.healthy ? 200 : 503, health)
    } else if (url.pathname === '/metrics') await handleMetrics(res)
    else if (url.pathname === '/graph') await handleGraph(res, url.searchParams)
    else handleStatus(res, url.searchParams)
  }

  /** Known once the port is bound; until then no Host is accepted. */
  let access: AccessRules = { hosts: new Set() }
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const apiError =
        error instanceof ApiError
          ? error
          : new ApiError(500, 'Internal', (error as Error)?.message ?? 'error')
      sendError(res, apiError)
      // Do not read the rest of an oversized body.
      if (apiError.status === 413) res.on('finish', () => req.destroy())
    })
  })
  // Idle keep-alive connections are closed by the client first (fetch keeps them 1 s less than
  // the server's hint): at 5 s a client starved of CPU (16 peers on 2 cores) sent its next request
  // on a connection the server had just closed, and a write cannot be retried ("other side closed").
  server.keepAliveTimeout = 65_000
  server.headersTimeout = 10_000
  server.requestTimeout = API_LIMITS.maxWaitMs + 30_000

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = server.address() as AddressInfo
  const address =
    bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`
  access = {
    hosts: acceptedHosts(bound, options.host, options.hostNames),
    ...(options.token === undefined ? {} : { token: options.token }),
  }

  return {
    address,
    async close() {
      closing = true
      section.removeEventListener('block', onBlock)
      for (const waiter of [...waiters]) waiter.wake()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        setTimeout(() => server.closeAllConnections(), 1000).unref()
      })
    },
  }
}
