/**
 * `parsec-peer start`: runs one section peer over libp2p (TCP, noise, yamux) with an optional data
 * directory (LevelDB; the graph, the delivered blocks and the identity survive restarts) and an
 * optional local control API (see control-api.ts). Logs one line per event on stdout.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, isIP } from 'node:net'
import { join, resolve } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { LeaveReason } from '@parsec-section/membership'
import {
  createSectionNode,
  type DeliveredBlock,
  isSectionError,
  type LeaveRefusedError,
  openLevelDatastore,
  type ParsecSection,
  parseGenesis,
  type SectionError,
  type SectionGenesis,
  type SelfState,
} from '@parsec-section/p2p-section'
import type { LevelDatastore } from 'datastore-level'
import { type Logger, pino, destination as pinoDestination, stdTimeFunctions } from 'pino'
import { Registry } from 'prom-client'
import { isLoopbackHost } from '../api-access.js'
import { readApiTokenFile } from '../api-token.js'
import { blockRetentionOption, choiceOption, intOption, parse, UsageError } from '../args.js'
import { blockToJson, PeerNames } from '../block-json.js'
import { type ControlApi, startControlApi } from '../control-api.js'
import { fileKind, type Identity, keyFileOf, readKeyFile, sameIdentity } from '../identity-file.js'
import { LinkErrors } from '../link-errors.js'
import { MEMBERSHIP_OPTIONS, membershipConfig, membershipHelp } from '../membership-flags.js'
import { parseSectionId, readSectionFile, sectionFilePath, writeSectionFile } from '../section-file.js'
import { parseMultiaddr } from './genesis.js'

/** How long `--leave-on-exit` waits for our removal to be agreed and our drain to end. */
const LEAVE_TIMEOUT_MS = 60_000

/**
 * The heap growth past the live heap after a full collection, in percent (`--heap-growth`): a
 * long-running peer's RSS stays flat (soak-live: 193-201 MB from 100,000 to 200,000 events, where
 * V8's adaptive factor swung 225-325 MB and crept up a third by 1,000,000).
 */
const HEAP_GROWTH_PERCENT = 50

const HELP = `usage: parsec-peer start --key FILE --listen MULTIADDR [--listen MULTIADDR ...]
                         (--genesis FILE | --join SECTION_ID) [--bootstrap MULTIADDR ...]
                         [--announce MULTIADDR ...] [--data-dir DIR] [--block-retention N|all]
                         [--tx-window-ms MS] [--tx-batch-bytes B] [--tx-open-batches N]
                         [--heap-growth PERCENT]
                         [--api HOST:PORT [--api-public] [--api-host NAME ...] [--api-token FILE]]
                         [--leave-on-exit [--leave-timeout MS]] [MEMBERSHIP FLAGS]
                         [--exit-with-stdin] [--json] [--log-level L]

Runs one peer of the section of the genesis file, with the identity of the key file (one of the
section's founders), listening on the --listen multiaddrs (e.g. /ip4/127.0.0.1/tcp/4001). It dials
the members at their agreed addresses (founders: their genesis addresses), at --bootstrap multiaddrs
(which must end in /p2p/PEERID) and at what the DHT finds. The members are whoever the section's
agreed blocks say: a founder restarted from its data directory after others left resumes with them.
  --join SECTION_ID  join the section with this id (64 hex characters) instead: no genesis file.
                   The peer dials the --bootstrap addresses (a member's, or any peer of the shared
                   DHT, e.g. a 'parsec-peer dht' node: the section's members are then looked up in
                   the DHT), fetches and verifies the section's genesis record and membership chain
                   against the id, asks to join, catches up (the section's blocks from position 0)
                   and is voted in: it prints 'candidate', its catch-up pages, then 'member'. With
                   --data-dir the section id is written to DIR/section.json: a peer that joined is
                   restarted with --data-dir DIR (and --listen) alone and resumes as a member
                   (one stopped before it was voted in joins again).
  --announce MULTIADDR  (repeatable) the addresses this peer advertises (in its announcements, its
                   join request and to the DHT) instead of its --listen addresses: for a listener
                   on 0.0.0.0 or behind a port mapping (e.g. /ip4/203.0.113.7/tcp/4001).
  --data-dir DIR   keep the gossip graph, the delivered blocks and the identity in DIR (LevelDB in
                   DIR/datastore, the key in DIR/identity.json) and resume from them; --key may then
                   be left out. Without it the peer runs in memory.
  --block-retention N  keep only the last N agreed blocks (in memory and in DIR): older ones are
                   deleted as new ones are written (and at a restart, down to N). Positions never
                   change; GET /blocks answers the kept ones and its "retainedFrom" (also in GET
                   /status) says where they start. Every block is still delivered (logged) once.
                   Default (or 'all'): every block is kept.
  --tx-window-ms MS, --tx-batch-bytes B  transactions (POST /transactions, Single-mode sections):
                   how long a first transaction waits for others before its batch is voted
                   (default 5) and the largest batch in bytes (default 262144, 32 to 524288).
  --tx-open-batches N  at most N batches of this peer voted and not yet agreed (default 4, 1-64);
                   later transactions fill the next batch meanwhile.
  --api HOST:PORT  serve the control API (POST /votes, GET /blocks, POST and GET /transactions,
                   GET /status, POST /leave) on
                   HOST:PORT; port 0 picks a free port (printed). HOST must be a loopback address
                   unless --api-public. Requests must name HOST:PORT in their Host header (or
                   localhost, 127.0.0.1 or [::1] with that port on loopback); writes from web pages
                   of other origins are refused.
  --api-host NAME  (repeatable) also accept the Host NAME (with the API's port) or NAME:PORT: the
                   names clients use for a public API (e.g. --api-public --api 0.0.0.0:8080
                   --api-host peer1.example.org).
  --api-token FILE every request needs 'Authorization: Bearer TOKEN', TOKEN being the content of
                   FILE (one word; surrounding whitespace ignored).
  --leave-on-exit  on SIGINT, SIGTERM (or stdin closing, with --exit-with-stdin) leave the section
                   first: vote our own Remove and wait until it is agreed and the drain is over, at
                   most --leave-timeout MS (default ${LEAVE_TIMEOUT_MS}; exit 1 when it runs out). The
                   last member stops without leaving. Without it a signal stops the peer as a
                   member: restarted from its data directory, it resumes as one.
  --exit-with-stdin  stop cleanly when standard input closes (for supervisors spawning peers).
  --json           print JSON lines (pino's: "time", "level", "msg" the human line), each with an
                   "event" field (ready, running, block, blocks, fault, link:error, peer:connected,
                   peer:disconnected, catchup, member:joined, member:left, member:banned, self,
                   self:joined, self:removed, join:rejected, leaving, leave:refused, failed,
                   stopping, stopped).
  --log-level L    the least level printed: trace, debug, info (default), warn, error, fatal or
                   silent. Every line has a time and a level: faults, link errors, an unanswered
                   self-check, refused joins and leaves are warn, a failure error, the rest info.
  --no-metrics     no metrics (GET /metrics answers 404): libp2p's metrics and the section's
                   are collected only for the API, and cost a little on every stream.
  --heap-growth PERCENT  how far V8 lets the JavaScript heap grow past what the last full garbage
                   collection kept, in percent (default ${HEAP_GROWTH_PERCENT}; 0: V8's own, adaptive factor,
                   up to 300%). A peer's live heap is small and steady while it allocates fast: V8's
                   adaptive factor let its heap, and so its RSS, swing and creep by a third over a
                   long run; 50 keeps it flat at no measurable cost in throughput.
  --no-sync        do not sync the datastore's writes to disk: only to measure what syncing
                   costs (a crash may then lose events others have seen, and the peer would fork).
Membership flags (MEMBERSHIP.md §8; unsigned integers; the defaults, in parentheses, are for real use):
${membershipHelp()}
Leaving: POST /leave on the API, or 'parsec-peer leave --api HOST:PORT': the peer votes its own
Remove and exits 0 once the section agreed on it and its drain is over. A peer voted out or banned
by the others exits 1. Stops cleanly on SIGINT or SIGTERM (exit 0). Bad arguments (a membership
flag out of range included) or unusable files (a damaged data directory included): exit 2. Writing
to the data directory failed (e.g. a full disk): exit 1.
Restarted after this key's removal (it left, was voted out or banned, as its data directory or the
members' chain says): it is not run as a member; it prints 'failed Removed: ...' (with --json, a
"failed" event with "code": "Removed" and "self": "removed" or "banned") and exits 3. To take part
again, join with a new key (--join SECTION_ID, a new --key and an empty --data-dir). A peer started
with the key of a member but without that member's data directory is refused before it makes an
event or asks to join (SelfCheckFailed, exit 2).`

/** Exit code of a peer whose key is no member any more (removed, left or banned) when it starts. */
const EXIT_REMOVED = 3

/** Block lines printed one by one per second before the rest is summarised. */
const BLOCK_LINES_PER_SECOND = 10
const STOP_TIMEOUT_MS = 10_000

type Node = Awaited<ReturnType<typeof createSectionNode>>

export interface HostPort {
  readonly host: string
  readonly port: number
}

/** Parses `HOST:PORT` or `[IPV6]:PORT`. */
export function parseHostPort(text: string, option: string): HostPort {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text)
  const port = match === null ? Number.NaN : Number(match[3])
  if (match === null || port > 65535) {
    throw new UsageError(`${option} takes HOST:PORT (e.g. 127.0.0.1:8080, [::1]:0), not '${text}'`)
  }
  const host = match[1] ?? match[2]
  if (match[1] !== undefined && isIP(host) !== 6)
    throw new UsageError(`${option}: '${host}' is not an IPv6 address`)
  return { host, port }
}

const UNSPECIFIED = new Set(['0.0.0.0', '::'])

/** `--api-host`: a DNS name or an IP address (IPv6 in brackets), optionally with `:PORT`. */
function checkApiHostName(name: string): void {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?))(?::(\d{1,5}))?$/.exec(
    name,
  )
  if (
    match === null ||
    (match[1] !== undefined && isIP(match[1]) !== 6) ||
    (match[3] !== undefined && Number(match[3]) > 65535)
  ) {
    throw new UsageError(
      `--api-host takes a host name or address, optionally with :PORT (e.g. peer1.example.org, [2001:db8::1]:8080), not '${name}'`,
    )
  }
}

function readGenesisFile(path: string): SectionGenesis {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new UsageError(
      `cannot read genesis file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    )
  }
  try {
    return parseGenesis(text)
  } catch (error) {
    let kind: ReturnType<typeof fileKind>
    try {
      kind = fileKind(JSON.parse(text))
    } catch {
      kind = undefined
    }
    if (kind === 'key')
      throw new UsageError(
        `${path} is a key file (from parsec-peer keygen), not a genesis file: give it as --key`,
      )
    if (kind === 'member')
      throw new UsageError(`${path} is a member file, not a genesis file (parsec-peer genesis makes one)`)
    if (isSectionError(error)) throw new UsageError(`genesis file ${path}: ${error.message}`)
    throw error
  }
}

/** The identity to run with: --key, the data directory's identity.json, or both when equal. */
function resolveIdentity(
  keyPath: string | undefined,
  dataDir: string | undefined,
): Identity & { save?: string } {
  const key = keyPath === undefined ? undefined : readKeyFile(keyPath)
  if (dataDir === undefined) {
    if (key === undefined) throw new UsageError('--key FILE is required')
    return key
  }
  const stored = join(dataDir, 'identity.json')
  const existing = existsSync(stored) ? readKeyFile(stored) : undefined
  if (key === undefined && existing === undefined) {
    throw new UsageError(`--key FILE is required (no identity in ${stored} yet)`)
  }
  if (key !== undefined && existing !== undefined && !sameIdentity(key, existing)) {
    throw new UsageError(
      `--key ${keyPath} (${key.peerId}) differs from the identity kept in ${stored} (${existing.peerId})`,
    )
  }
  if (existing !== undefined) return existing
  return { ...(key as Identity), save: stored }
}

/**
 * Only TCP listen addresses work (the node has the TCP transport only), and each must be bindable:
 * checked here because libp2p's failed start currently ends in an unrelated error.
 */
export async function checkListenAddresses(listen: readonly string[]): Promise<void> {
  for (const text of listen) {
    const components = multiaddr(text).getComponents()
    const [ip, tcp] = components
    if (
      components.length !== 2 ||
      (ip.name !== 'ip4' && ip.name !== 'ip6') ||
      tcp.name !== 'tcp' ||
      ip.value === undefined ||
      tcp.value === undefined
    ) {
      throw new UsageError(`--listen ${text}: only /ip4/HOST/tcp/PORT and /ip6/HOST/tcp/PORT are supported`)
    }
    const host = ip.value
    const port = Number(tcp.value)
    await new Promise<void>((resolve, reject) => {
      const server = createServer()
      server.once('error', (error: NodeJS.ErrnoException) => {
        reject(new UsageError(`--listen ${text}: cannot listen there (${error.code ?? error.message})`))
      })
      server.listen({ host, port }, () => server.close(() => resolve()))
    })
  }
}

export function isListenError(error: unknown): boolean {
  const e = error as { code?: string; name?: string } | null
  return (
    e?.code === 'EADDRINUSE' ||
    e?.code === 'EADDRNOTAVAIL' ||
    e?.code === 'EACCES' ||
    e?.name === 'NoValidAddressesError' ||
    e?.name === 'UnsupportedListenAddressesError' ||
    e?.name === 'UnsupportedListenAddressError'
  )
}

/**
 * Stops the section service first, while gossipsub still runs: when libp2p stops all services at
 * once, the section's discovery unsubscribes from an already stopped gossipsub ("Pubsub is not
 * started") and the node's stop fails half-way. libp2p's own call to the section's stop is then a
 * no-op.
 */
async function stopNode(node: Node): Promise<void> {
  await (node.services.section as unknown as { stop?: () => Promise<void> }).stop?.()
  await node.stop()
}

/** Log lines on stdout: human text, or JSON lines with an "event" field. */
/** `--log-level`: pino's levels. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** The level of each event line that is not `info`. */
const EVENT_LEVELS: Record<string, Exclude<LogLevel, 'silent'>> = {
  fault: 'warn',
  'link:error': 'warn',
  'selfcheck:unanswered': 'warn',
  'leave:refused': 'warn',
  'join:rejected': 'warn',
  failed: 'error',
}

/**
 * The peer's output: one line per event, with a timestamp and a level, from `--log-level` up.
 * With `--json` it is pino's JSON lines (`time`, `level` by name, `event` and its fields, and
 * `msg`, the human line); without, `TIME LEVEL human line`.
 */
class EventLog {
  private windowStart = 0
  private windowLines = 0
  private summary: { from: number; to: number; count: number; since: number } | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly logger: Logger

  constructor(
    private readonly json: boolean,
    level: LogLevel = 'info',
  ) {
    this.logger = pino(
      {
        level,
        base: undefined,
        timestamp: stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      // Synchronous: lines keep their order with the other output and none is lost at exit.
      pinoDestination({ fd: 1, sync: true }),
    )
  }

  line(event: string, fields: Record<string, unknown>, human: string): void {
    const level = EVENT_LEVELS[event] ?? 'info'
    if (!this.logger.isLevelEnabled(level)) return
    if (this.json) this.logger[level]({ event, ...fields }, human)
    else console.log(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${human}`)
  }

  block(block: DeliveredBlock, names: PeerNames): void {
    const now = Date.now()
    if (now - this.windowStart >= 1000) {
      this.windowStart = now
      this.windowLines = 0
    }
    if (this.windowLines < BLOCK_LINES_PER_SECOND && this.summary === undefined) {
      this.windowLines++
      this.printBlock(block, names)
      return
    }
    if (this.summary === undefined) {
      this.summary = { from: block.position, to: block.position, count: 0, since: now }
      this.timer = setTimeout(() => this.flush(), 1000)
    }
    this.summary.to = block.position
    this.summary.count++
  }

  private printBlock(delivered: DeliveredBlock, names: PeerNames): void {
    const json = blockToJson(delivered, names, null)
    const { position, kind } = json
    const votes = `(${json.voters.length} vote${json.voters.length === 1 ? '' : 's'})`
    let detail: string
    const fields: Record<string, unknown> = { position, kind }
    switch (kind) {
      case 'genesis':
        detail = `${json.peers?.length} members`
        fields.peers = json.peers
        break
      case 'add':
      case 'remove':
        detail = json.peer ?? ''
        fields.peer = json.peer
        break
      case 'accusation':
        detail = `${json.offender} ${json.malice}`
        fields.offender = json.offender
        fields.malice = json.malice
        break
      case 'opaque': {
        const bytes = (json.payload?.length ?? 0) / 2
        fields.bytes = bytes
        if (json.text !== undefined) {
          const text = json.text.length > 200 ? `${json.text.slice(0, 200)}…` : json.text
          fields.text = text
          detail = JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)
        } else {
          detail = `0x${json.payload?.slice(0, 16)}${bytes > 8 ? '…' : ''} (${bytes} bytes)`
        }
        break
      }
      case 'checkpoint':
        detail = `0x${json.payload?.slice(0, 16)}…`
        fields.payload = json.payload
        break
    }
    fields.voters = json.voters.length
    this.line('block', fields, `block ${position} ${kind} ${detail} ${votes}`)
  }

  /** Prints the pending summary of blocks not printed one by one. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    const summary = this.summary
    if (summary === undefined) return
    this.summary = undefined
    const seconds = Math.max(0.001, (Date.now() - summary.since) / 1000)
    this.line(
      'blocks',
      { from: summary.from, to: summary.to, count: summary.count },
      `blocks ${summary.from}..${summary.to} (${summary.count} blocks, ${(summary.count / seconds).toFixed(0)}/s)`,
    )
    this.windowStart = Date.now()
    this.windowLines = 0
  }
}

/** The data directory this start created, until its node runs (then it is the peer's to keep). */
interface CreatedDataDir {
  path: string | undefined
}

export const startCommand = {
  summary: 'run one section peer over libp2p with a local control API',
  async run(args: string[]): Promise<number> {
    const created: CreatedDataDir = { path: undefined }
    try {
      return await runStart(args, created)
    } finally {
      // A start that failed before its node ran leaves no data directory it created behind.
      if (created.path !== undefined) rmSync(created.path, { recursive: true, force: true })
      // libp2p leaves timers behind after a stop (about 1 s), and a node that failed half-way
      // through starting can leave more: never hang on exit (the exit code is already set).
      setTimeout(() => process.exit(), 2000).unref()
    }
  },
}

async function runStart(args: string[], created: CreatedDataDir): Promise<number> {
  const { values } = parse(args, {
    key: { type: 'string' },
    genesis: { type: 'string' },
    join: { type: 'string' },
    listen: { type: 'string', multiple: true },
    bootstrap: { type: 'string', multiple: true },
    announce: { type: 'string', multiple: true },
    'data-dir': { type: 'string' },
    'block-retention': { type: 'string' },
    'tx-window-ms': { type: 'string' },
    'tx-batch-bytes': { type: 'string' },
    'tx-open-batches': { type: 'string' },
    api: { type: 'string' },
    'api-public': { type: 'boolean' },
    'api-host': { type: 'string', multiple: true },
    'api-token': { type: 'string' },
    'exit-with-stdin': { type: 'boolean' },
    'no-sync': { type: 'boolean' },
    'heap-growth': { type: 'string' },
    'no-metrics': { type: 'boolean' },
    'log-level': { type: 'string' },
    'leave-on-exit': { type: 'boolean' },
    'leave-timeout': { type: 'string' },
    ...MEMBERSHIP_OPTIONS,
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    console.log(HELP)
    return 0
  }
  const json = values.json === true
  const logLevel = choiceOption(values, 'log-level', LOG_LEVELS, 'info')
  const genesisPath = values.genesis as string | undefined
  const joinText = values.join as string | undefined
  if (genesisPath !== undefined && joinText !== undefined)
    throw new UsageError('--genesis and --join exclude each other: found (or resume) a section, or join one')
  const joinId = joinText === undefined ? undefined : parseSectionId(joinText, '--join')
  const listen = (values.listen as string[] | undefined) ?? []
  if (listen.length === 0)
    throw new UsageError('--listen MULTIADDR is required (e.g. /ip4/127.0.0.1/tcp/4001)')
  listen.forEach((a) => {
    parseMultiaddr(a, '--listen')
  })
  const bootstrap = (values.bootstrap as string[] | undefined) ?? []
  for (const text of bootstrap) {
    const addr: Multiaddr = parseMultiaddr(text, '--bootstrap')
    if (!addr.getComponents().some((c) => c.name === 'p2p')) {
      throw new UsageError(`--bootstrap: '${text}' must end in /p2p/PEERID`)
    }
  }
  const membership = membershipConfig(values)
  const heapGrowth = intOption(values, 'heap-growth', HEAP_GROWTH_PERCENT, 0, 1_000)
  // Read by V8 at every full collection, so it applies from here on (Node keeps flags writable).
  if (heapGrowth > 0) setFlagsFromString(`--heap-growing-percent=${heapGrowth}`)
  const blockRetention = blockRetentionOption(values)
  const transactionOptions = {
    ...(values['tx-window-ms'] === undefined
      ? {}
      : { transactionWindowMs: intOption(values, 'tx-window-ms', 5, 0, 60_000) }),
    ...(values['tx-batch-bytes'] === undefined
      ? {}
      : { transactionBatchBytes: intOption(values, 'tx-batch-bytes', 262_144, 32, 524_288) }),
    ...(values['tx-open-batches'] === undefined
      ? {}
      : { transactionOpenBatches: intOption(values, 'tx-open-batches', 4, 1, 64) }),
  }
  const leaveOnExit = values['leave-on-exit'] === true
  if (values['leave-timeout'] !== undefined && !leaveOnExit)
    throw new UsageError('--leave-timeout needs --leave-on-exit')
  const leaveTimeoutMs = intOption(values, 'leave-timeout', LEAVE_TIMEOUT_MS, 1, 2 ** 31 - 1)
  const announceTexts = (values.announce as string[] | undefined) ?? []
  const announce = announceTexts.map((text) => parseMultiaddr(text, '--announce'))
  let api: HostPort | undefined
  const apiHosts = (values['api-host'] as string[] | undefined) ?? []
  let apiToken: string | undefined
  if (values.api !== undefined) {
    api = parseHostPort(values.api as string, '--api')
    if (!isLoopbackHost(api.host) && values['api-public'] !== true) {
      throw new UsageError(
        `--api ${values.api}: ${api.host} is not a loopback address; anyone who reaches it could vote (add --api-public, and --api-token, to serve it anyway)`,
      )
    }
    for (const name of apiHosts) checkApiHostName(name)
    if (UNSPECIFIED.has(api.host) && apiHosts.length === 0) {
      throw new UsageError(
        `--api ${values.api}: on every address the API needs --api-host NAME for each name clients reach it by`,
      )
    }
    if (values['api-token'] !== undefined) apiToken = readApiTokenFile(values['api-token'] as string)
  } else {
    for (const option of ['api-public', 'api-host', 'api-token']) {
      if (values[option] !== undefined) throw new UsageError(`--${option} needs --api HOST:PORT`)
    }
  }
  const genesis = genesisPath === undefined ? undefined : readGenesisFile(genesisPath)
  const dataDir = values['data-dir'] as string | undefined
  // Joining: --join, or a data directory that records the section it joined.
  const joinedId = genesis === undefined && dataDir !== undefined ? readSectionFile(dataDir) : undefined
  if (joinId !== undefined && joinedId !== undefined && joinId !== joinedId) {
    throw new UsageError(
      `--join ${joinId}: the data directory ${dataDir} belongs to section ${joinedId} (${sectionFilePath(dataDir as string)})`,
    )
  }
  const sectionId = genesis?.sectionId ?? joinId ?? joinedId
  if (sectionId === undefined) {
    throw new UsageError(
      dataDir === undefined
        ? '--genesis FILE or --join SECTION_ID is required'
        : `--genesis FILE or --join SECTION_ID is required (${dataDir} records no section joined)`,
    )
  }
  if (genesis === undefined && joinedId === undefined && bootstrap.length === 0)
    throw new UsageError('--join needs --bootstrap MULTIADDR (a member or a DHT peer) to find the section')
  if (dataDir !== undefined && !existsSync(dataDir)) {
    try {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    } catch (error) {
      throw new UsageError(`cannot create --data-dir ${dataDir}: ${(error as NodeJS.ErrnoException).code}`)
    }
    created.path = dataDir
  }
  const identity = resolveIdentity(values.key as string | undefined, dataDir)
  const peerId = identity.peerId.toString()
  announce.forEach((addr, i) => {
    const p2p = addr.getComponents().find((c) => c.name === 'p2p')
    if (p2p !== undefined && p2p.value !== peerId)
      throw new UsageError(`--announce: '${announceTexts[i]}' names another peer than ours (${peerId})`)
  })
  // Founding (or resuming as a founder) takes a founder's key: the members now are whoever the
  // agreed blocks say, but the genesis group is fixed.
  if (genesis !== undefined && !genesis.members.some((m) => m.peerId.equals(identity.peerId))) {
    throw new UsageError(
      `peer ${peerId} is not a member of section ${genesis.sectionId}: only its founders start from the genesis file ${genesisPath} (others --join ${genesis.sectionId})`,
    )
  }
  if (identity.save !== undefined) {
    writeFileSync(identity.save, `${JSON.stringify(keyFileOf(identity), null, 2)}\n`, {
      mode: 0o600,
      flag: 'wx',
    })
  }

  if (genesis === undefined && dataDir !== undefined) writeSectionFile(dataDir, sectionId)

  let datastore: LevelDatastore | undefined
  if (dataDir !== undefined) {
    try {
      datastore = await openLevelDatastore(join(dataDir, 'datastore'))
    } catch (error) {
      if (isSectionError(error)) throw new UsageError(`${error.code}: ${error.message}`)
      const cause = (error as { cause?: { code?: string } }).cause
      const locked = (error as { code?: string }).code === 'LEVEL_LOCKED' || cause?.code === 'LEVEL_LOCKED'
      throw new UsageError(
        locked
          ? `the data directory ${dataDir} is in use by another process`
          : `cannot open the datastore in ${dataDir}: ${(error as Error).message}`,
      )
    }
  }

  try {
    await checkListenAddresses(listen)
  } catch (error) {
    await datastore?.close().catch(() => {})
    throw error
  }

  const startedAt = Date.now()
  // Metrics serve the API's GET /metrics only: none without an API.
  const withMetrics = api !== undefined && values['no-metrics'] !== true
  const metricsRegistry = new Registry()
  let node: Node
  try {
    node = await createSectionNode({
      privateKey: identity.privateKey,
      listen,
      bootstrap,
      ...(announce.length === 0 ? {} : { announce }),
      ...(genesis === undefined
        ? { join: { sectionId, bootstrap: bootstrap.map((a) => multiaddr(a)) } }
        : { genesis }),
      ...(datastore === undefined ? { persist: false } : { datastore }),
      ...(values['no-sync'] === true ? { syncWrites: false } : {}),
      ...(typeof blockRetention === 'number' ? { blockRetention } : {}),
      ...transactionOptions,
      ...(withMetrics ? { metrics: prometheusMetrics({ registry: metricsRegistry }) } : {}),
      ...(Object.keys(membership).length === 0 ? {} : { membership }),
    })
  } catch (error) {
    await datastore?.close().catch(() => {})
    if (isSectionError(error) && error.code === 'StorageFailed') {
      console.error(`parsec-peer start: ${error.code}: ${error.message}`)
      return 1
    }
    if (isSectionError(error)) throw new UsageError(`${error.code}: ${error.message}`)
    if (isListenError(error)) {
      throw new UsageError(`cannot listen on ${listen.join(', ')}: ${(error as Error).message}`)
    }
    console.error(`parsec-peer start: the libp2p node did not start: ${(error as Error).message}`)
    return 1
  }
  // The node ran (it may have sent events it stored): the directory is the peer's from now on.
  // Said aloud, since a mistyped path would otherwise start a new peer silently.
  if (created.path !== undefined)
    console.error(`parsec-peer start: created a new data directory at ${resolve(created.path)}`)
  created.path = undefined
  const section = node.services.section
  const names = new PeerNames()
  const log = new EventLog(json, logLevel)

  // This key's removal is known at start (its blocks or its data directory hold it): it is not run
  // as a member. Said at once, and exit 3 (the operator joins again with a new key).
  const atStartFailure = section.status().failure
  if (atStartFailure?.code === 'Removed') {
    log.line(
      'failed',
      { code: atStartFailure.code, message: atStartFailure.message, self: section.self() },
      `failed ${atStartFailure.code} (${section.self()}): ${atStartFailure.message}`,
    )
    log.flush()
    await stopNode(node).catch(() => {})
    await datastore?.close().catch(() => {})
    console.error(`parsec-peer start: ${atStartFailure.code}: ${atStartFailure.message}`)
    return EXIT_REMOVED
  }

  // Blocks delivered before we could listen (restored from the data directory) have no time.
  const restored = section.status().deliveredBlocks
  // When each block was delivered: those kept only (positions come in order).
  const deliveredAt = new Map<number, number>()
  section.addEventListener('block', (event) => {
    deliveredAt.set(event.detail.position, Date.now())
    for (const position of deliveredAt.keys()) {
      if (position >= section.retainedFrom) break
      deliveredAt.delete(position)
    }
    log.block(event.detail, names)
  })
  section.addEventListener('fault', ({ detail }) => {
    // The offender is who misbehaved; `peer` sent us the proof (another member when it relayed it).
    const peer = detail.peer.toString()
    const offender = detail.offender.toString()
    const via = peer === offender ? '' : ` via ${peer}`
    log.line(
      'fault',
      { offender, peer, evidence: detail.evidence, code: detail.code, message: detail.message },
      `fault ${offender} ${detail.evidence} ${detail.code}${via}: ${detail.message}`,
    )
  })
  const links = new LinkErrors()
  section.addEventListener('link:error', ({ detail }) => {
    const peer = detail.peer.toString()
    const repeated = links.report(peer, detail.code, Date.now())
    if (repeated === undefined) return
    log.line(
      'link:error',
      { peer, code: detail.code, message: detail.message, retryInMs: detail.retryInMs, repeated },
      `link error ${peer} ${detail.code}: ${detail.message}` +
        (repeated > 0 ? ` (and ${repeated} more since the last line)` : '') +
        (links.reached(peer) ? '' : ' (not reached yet: quiet until it is)'),
    )
  })
  section.addEventListener('peer:connected', ({ detail }) => {
    links.connected(detail.toString())
    log.line('peer:connected', { peer: detail.toString() }, `peer connected ${detail}`)
  })
  // Members connected while the node started, before these listeners: reported now, none missed.
  for (const peer of section.status().connected) {
    links.connected(peer)
    log.line('peer:connected', { peer }, `peer connected ${peer}`)
  }
  section.addEventListener('peer:disconnected', ({ detail }) => {
    log.line('peer:disconnected', { peer: detail.toString() }, `peer disconnected ${detail}`)
  })
  section.addEventListener('catchup:progress', ({ detail }) => {
    const peer = detail.peer.toString()
    log.line(
      'catchup',
      {
        peer,
        pages: detail.pages,
        events: detail.events,
        serverGraphSize: detail.serverGraphSize,
        done: detail.done,
      },
      `catching up from ${peer}: ${detail.events} events in ${detail.pages} pages` +
        (detail.done ? ' (done)' : ` (it holds ${detail.serverGraphSize})`),
    )
  })
  section.addEventListener('selfcheck:unanswered', ({ detail }) => {
    log.line(
      'selfcheck:unanswered',
      detail,
      `warning: no member answered the start-up self-check (${detail.asked} asked); going on`,
    )
  })
  logMembership(section, log)
  watchSelf(section, log)
  // Our removal agreed and our drain over (we left, or were voted out or banned): nothing more to
  // do here; stop (exit 0 after a leave, 1 otherwise).
  let removal: LeaveReason | undefined
  const removed = new Promise<string>((resolve) => {
    section.addEventListener('self:removed', ({ detail }) => {
      removal = detail.reason
      resolve(`removed: ${detail.reason}`)
    })
  })
  // The service stopped creating events (a failed write, a failed self-check): the service creates no more events; stop (exit 1).
  let failure: SectionError | undefined
  const failed = new Promise<string>((resolve) => {
    section.addEventListener('failed', ({ detail }) => {
      failure = detail
      log.flush()
      log.line(
        'failed',
        { code: detail.code, message: detail.message },
        `failed ${detail.code}: ${detail.message}`,
      )
      resolve(`failed: ${detail.code}`)
    })
  })

  /** `POST /leave` and `--leave-on-exit`: vote our Remove; the process exits on `self:removed`. */
  const leave = async (): Promise<void> => {
    await section.leave()
    log.line(
      'leaving',
      { self: section.self() },
      'leaving: our Remove is voted; exiting once the section agrees on it and the drain is over',
    )
  }

  const listenAddrs = (): string[] => node.getMultiaddrs().map((a) => a.toString())
  let control: ControlApi | undefined
  if (api !== undefined) {
    try {
      control = await startControlApi({
        host: api.host,
        port: api.port,
        section,
        names,
        deliveredAt: (position) => (position < restored ? null : (deliveredAt.get(position) ?? null)),
        listen: listenAddrs,
        startedAt,
        hostNames: apiHosts,
        ...(apiToken === undefined ? {} : { token: apiToken }),
        leave,
        ...(withMetrics
          ? {
              metrics: async () => ({
                contentType: metricsRegistry.contentType,
                text: await metricsRegistry.metrics(),
              }),
            }
          : {}),
      })
    } catch (error) {
      await stopNode(node).catch(() => {})
      await datastore?.close().catch(() => {})
      throw new UsageError(
        `cannot serve the API on ${values.api}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      )
    }
  }

  if (control !== undefined && !isLoopbackHost(api?.host ?? '') && apiToken === undefined) {
    console.error(
      `parsec-peer start: warning: the API at ${control.address} is public and has no --api-token: anyone who reaches it can vote`,
    )
  }

  // Listening for the signals before the ready line: a supervisor may stop us as soon as it reads it.
  const stopRequested = new Promise<string>((resolve) => {
    failed.then(resolve)
    removed.then(resolve)
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
    if (values['exit-with-stdin'] === true) {
      process.stdin.on('end', () => resolve('stdin closed'))
      process.stdin.on('error', () => resolve('stdin closed'))
      process.stdin.resume()
    }
  })
  const atStart = section.membershipStatus()
  const ready = {
    peerId,
    sectionId,
    listen: listenAddrs(),
    api: control?.address ?? null,
    self: atStart.self,
    members: atStart.members,
  }
  log.line(
    'ready',
    ready,
    `ready: peer ${peerId} of section ${sectionId} (${genesis === undefined ? 'joiner' : genesis.mode}, ${atStart.self} of ${atStart.members.length} members, ` +
      `${restored} blocks at start); listening on ${ready.listen.join(' ')}` +
      (control === undefined ? '; no API' : `; API http://${control.address}`),
  )

  section.ready().then(
    () => {
      const status = section.status()
      log.line(
        'running',
        { graphSize: status.graphSize, blocks: status.deliveredBlocks },
        `running: self-check passed; ${status.graphSize} events, ${status.deliveredBlocks} blocks`,
      )
    },
    () => {},
  )
  const reason = await stopRequested
  const force = (): void => {
    console.error('parsec-peer start: stopping forcibly')
    process.exit(1)
  }
  process.once('SIGINT', force)
  process.once('SIGTERM', force)
  let leaveFailed: string | undefined
  if (leaveOnExit && removal === undefined && failure === undefined) {
    leaveFailed = await leaveBeforeExit(section, leave, { removed, failed }, leaveTimeoutMs, log)
  }
  const forceTimer = setTimeout(() => {
    console.error(`parsec-peer start: did not stop within ${STOP_TIMEOUT_MS} ms`)
    process.exit(1)
  }, STOP_TIMEOUT_MS)
  forceTimer.unref()

  log.flush()
  log.line('stopping', { reason }, `stopping (${reason})`)
  await control?.close()
  let code = 0
  try {
    await stopNode(node)
  } catch (error) {
    console.error(`parsec-peer start: stopping the node failed: ${(error as Error).message}`)
    code = 1
  }
  await datastore?.close()
  log.flush()
  // Every block before the first kept was delivered too (block retention).
  const delivered = section.retainedFrom + section.blocks().length
  log.line('stopped', { blocks: delivered }, `stopped after ${delivered} blocks`)
  process.stdin.destroy()
  clearTimeout(forceTimer)
  const result = exitCode(code, failure, removal, leaveFailed, sectionId)
  // Stopped cleanly: a signal now exits with this result, not as forced; and we exit at the next
  // turn rather than when the event loop drains, since Node closes its signal handles while it
  // tears down: a supervisor's repeated SIGTERM then killed us by the default action (CI, once).
  process.off('SIGINT', force)
  process.off('SIGTERM', force)
  const done = (): void => process.exit(result)
  process.once('SIGINT', done)
  process.once('SIGTERM', done)
  setImmediate(done)
  return result
}

/** The exit code of a stopped peer, saying why on stderr. */
function exitCode(
  code: number,
  failure: SectionError | undefined,
  removal: LeaveReason | undefined,
  leaveFailed: string | undefined,
  sectionId: string,
): number {
  if (failure !== undefined) {
    // A failed self-check is the operator's to fix before starting again (exit 2); a failed
    // write (a full disk) exit 1.
    const { code: failureCode, message } = failure
    console.error(`parsec-peer start: ${failureCode}: ${message}`)
    return failureCode === 'SelfCheckFailed' ? 2 : failureCode === 'Removed' ? EXIT_REMOVED : 1
  }
  if (removal !== undefined && removal !== 'left') {
    console.error(
      `parsec-peer start: ${removal === 'banned' ? 'banned from' : 'voted out of'} section ${sectionId}: ` +
        'this key is no member any more (joining again takes a new key)',
    )
    return 1
  }
  if (leaveFailed !== undefined) {
    console.error(`parsec-peer start: --leave-on-exit: ${leaveFailed}`)
    return 1
  }
  return code
}

const SELF_LINES: Partial<Record<SelfState, string>> = {
  outsider: 'outsider: asking to join',
  candidate: 'candidate: admitted, catching up',
  joining: 'joining: our Add is agreed, replaying up to it',
  member: 'member: voted in',
}

/** How often a joiner's own state is looked at (the service has no event for `candidate`). */
const SELF_POLL_MS = 250

/**
 * A joiner's progress: one `self` line each time our own state changes on the way in (`outsider`,
 * `candidate`, ..., `member`); the catch-up pages and `self:joined` have their own lines.
 */
function watchSelf(section: ParsecSection, log: EventLog): void {
  let last = section.self()
  if (last === 'member' || last === 'leaving') return
  const check = (): void => {
    const self = section.self()
    if (self === last) return
    last = self
    log.flush()
    log.line('self', { self }, SELF_LINES[self] ?? self)
    if (self !== 'outsider' && self !== 'candidate' && self !== 'joining') clearInterval(timer)
  }
  const timer = setInterval(check, SELF_POLL_MS)
  timer.unref()
  section.addEventListener('catchup:progress', check)
  section.addEventListener('self:joined', check)
}

/** One line per membership change the section agrees on, and per refused join. */
function logMembership(section: ParsecSection, log: EventLog): void {
  section.addEventListener('member:joined', ({ detail }) => {
    const peer = detail.peer.toString()
    log.line(
      'member:joined',
      { peer, position: detail.position },
      `member joined ${peer} (block ${detail.position})`,
    )
  })
  section.addEventListener('member:left', ({ detail }) => {
    const peer = detail.peer.toString()
    log.line(
      'member:left',
      { peer, position: detail.position, reason: detail.reason },
      `member left ${peer} (${detail.reason}, block ${detail.position})`,
    )
  })
  section.addEventListener('member:banned', ({ detail }) => {
    const peer = detail.peer.toString()
    log.line(
      'member:banned',
      { peer, position: detail.position },
      `member banned ${peer} (block ${detail.position})`,
    )
  })
  section.addEventListener('self:joined', ({ detail }) => {
    log.line(
      'self:joined',
      { ...detail },
      `joined: we are a member (block ${detail.position}, seq ${detail.seq})`,
    )
  })
  section.addEventListener('self:removed', ({ detail }) => {
    log.line(
      'self:removed',
      { reason: detail.reason },
      `removed from the section (${detail.reason}): drain over`,
    )
  })
  section.addEventListener('join:rejected', ({ detail }) => {
    const peer = detail.peer.toString()
    const by = detail.by?.toString()
    log.line(
      'join:rejected',
      { peer, ...(by === undefined ? {} : { by }), reason: detail.reason, retryAfterMs: detail.retryAfterMs },
      `join of ${peer} rejected${by === undefined ? '' : ` by ${by}`}: ${detail.reason}`,
    )
  })
}

/**
 * `--leave-on-exit`: leaves (unless already leaving) and waits for our removal, at most
 * `timeoutMs`. Returns why we stop without having left when that is a failure (undefined: we left,
 * or could not leave for a reason that is no failure, e.g. the last member, which is logged).
 */
async function leaveBeforeExit(
  section: ParsecSection,
  leave: () => Promise<void>,
  outcome: { removed: Promise<string>; failed: Promise<string> },
  timeoutMs: number,
  log: EventLog,
): Promise<string | undefined> {
  const self = section.self()
  if (self !== 'member' && self !== 'leaving') return undefined
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs)
  })
  try {
    if (self === 'member') {
      const started = await Promise.race([
        leave().then(
          () => 'leaving',
          (error: unknown) => {
            if (!isSectionError(error)) throw error
            log.line(
              'leave:refused',
              { code: error.code, reason: (error as LeaveRefusedError).reason, message: error.message },
              `not leaving before exit: ${error.message}`,
            )
            return 'refused'
          },
        ),
        timeout,
      ])
      if (started === 'refused') return undefined
      if (started === 'timeout') return `the leave did not start within ${timeoutMs} ms`
    }
    const end = await Promise.race([outcome.removed, outcome.failed, timeout])
    if (end === 'timeout') {
      return `our removal was not agreed within ${timeoutMs} ms (--leave-timeout); stopping while leaving`
    }
    return undefined
  } finally {
    clearTimeout(timer)
  }
}
