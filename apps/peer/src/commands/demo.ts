/**
 * `parsec-peer demo`: a real section of N `parsec-peer start` processes on 127.0.0.1 (libp2p over
 * TCP, LevelDB data directories), P random payloads voted through the control API, and a check
 * that every peer delivered the same blocks in the same order, with throughput and latency. With
 * `--join J` / `--leave L` / `--kill K` peers join (`start --join`), members leave or are SIGKILLed
 * while the votes go on (membership-plan.ts
 * checks the combination, membership-changes.ts makes and tracks the changes), and the live members
 * must also agree on the member list.
 */
import { randomBytes, randomInt } from 'node:crypto'
import type { ConsensusMode } from '@parsec-section/parsec-core'
import { API_LIMITS } from '../api-limits.js'
import { readApiTokenFile } from '../api-token.js'
import { blockRetentionOption, choiceOption, intOption, parse, UsageError } from '../args.js'
import type { BlockJson } from '../block-json.js'
import type { ChangeOutcome, MembershipChanges } from '../membership-changes.js'
import { planChanges } from '../membership-plan.js'
import { DEMO_CHANGE_ARGS, DEMO_JOIN_ARGS } from '../quick-membership.js'
import { describeWan, WAN_FLAGS, WAN_HELP, wanOptions } from '../wan-flags.js'

const HELP = `usage: parsec-peer demo [--peers N] [--payloads P] [--mode single|supermajority] [--size BYTES]
                        [--join J] [--leave L] [--kill K] [--batch N] [--in-flight K] [--stats] [--json]
                        [--keep-dir] [--api-token FILE] [--no-sync] [--no-metrics]
                        [--block-retention N|all] [--wan-delay-ms D [--wan-jitter-ms J] [--wan-seed S]]
       parsec-peer demo --transactions T [--tx-size B] [--tx-rate R] [--tx-open-batches K]
                        [--tx-batch-bytes B] [--peers N] [--json] [--stats]
                        [--keep-dir] [--api-token FILE] [--no-sync] [--no-metrics]
                        [--wan-delay-ms D [--wan-jitter-ms J] [--wan-seed S]]

Starts a section of N peers ('parsec-peer start' child processes on 127.0.0.1, each with a data
directory and a control API) in a temporary directory, waits until they are all connected, votes P
distinct random payloads of --size bytes through the API (single mode: each at one random peer;
supermajority: each at every peer), fetches every peer's blocks until each holds all payloads, and
checks that all peers delivered exactly the same blocks in the same order and report the same
members (GET /status).
Defaults: --peers 4 --payloads 200 --mode single --size 256. Live progress goes to stderr.
Prints: agreed or not, blocks, members, elapsed (first vote to last block at the last peer),
payloads/s and latency p50/p99 (a payload's latency: its block delivered at the last peer minus its
first vote).
Membership changes, made one after another while payloads are voted (and voted until every change
happened or was reported refused or deferred, with the reason; each change shows on stderr as the
peers report it):
  --join J   start J peers that join the section ('parsec-peer start --join SECTION_ID'), one after
             another, each once the previous one is a member everywhere: the first half with a
             founder's address as --bootstrap, the others with the address of a 'parsec-peer dht'
             node only (started with J >= 2; the founders join the DHT through it), from which they
             find the members. Joins go first, before kills and leaves. A join is done when the
             joiner reports itself a member and every live member lists it; refused when a member
             rejects it for good (e.g. Banned) or its process exits; deferred after 120 s. The
             joiners count in the end check (same blocks from position 0, same members).
  --kill K   SIGKILL K members (first, on the highest peer indices); the others remove each after
             the unresponsive window. Each kill needs at least 4 members when it happens (more than
             2/3 of the voters stay alive): a section of 3 loses members only by graceful leaves.
  --leave L  L members leave gracefully (POST /leave, then the next ones): at least 1 member stays.
  With any of them, the peers start with ${DEMO_CHANGE_ARGS.join(' ')}
  (with --join also ${DEMO_JOIN_ARGS.join(' ')})
  (a silent member is suspected after 2 s and 5 decisions without its progress, so a kill is
  removed within seconds; a leaver drains for 5 s). Before each change the demo stops voting at
  that peer until the others delivered its payloads; a change not seen by every live member within
  60 s is deferred, and the changes after it are not attempted.
  An impossible combination (e.g. --peers 4 --kill 2) is refused up front (exit 2).
--json prints exactly {"peers","payloads","agreed","blocks","elapsedMs","payloadsPerSecond",
"latencyMs":{"p50","p99"},"members","membersAgreed"} ("members": the final member list, only when
every live member reports the same one), and with --join, --leave or --kill "changes": [{"kind","peer",
"outcome": done|refused|deferred, "reason"?}]. --keep-dir keeps the directory (keys, genesis, data
directories).
--batch N payloads per POST (default 25); --in-flight K POSTs outstanding at once (default 1: each
batch waits for the previous one). --stats adds each peer's CPU time and signature verifications
(count, time) to the output ("stats" in --json), as used by 'parsec-peer bench-live'.
The peers' control APIs take a bearer token: a new random one in DIR/api-token, or the one in
--api-token FILE. --no-sync starts the peers with 'start --no-sync' (writes not synced to disk: only
to measure what syncing costs), --no-metrics with 'start --no-metrics' (no GET /metrics: to measure
what collecting metrics costs), --block-retention N with 'start --block-retention N' (each peer keeps
its last N blocks: the demo reads every block as it is delivered, and fails if a peer dropped blocks
it had not read yet). Its peers run without epochs ('start --checkpoint-blocks 0'): every peer's
blocks are checked from genesis, which a joiner starting at a checkpoint never delivers.
Transactions (--transactions T): instead of payloads, T distinct random transactions of --tx-size
bytes (default 100) are submitted at random peers (POST /transactions, in groups of up to 1,000),
as fast as they are accepted (at most 5,000 per peer not answered yet) or --tx-rate R per second
(--tx-open-batches K, --tx-batch-bytes B: the peers' 'start' flags of those names); the section is
Single-mode (--mode supermajority, --payloads, --size, --join, --leave, --kill, --batch,
--in-flight and --block-retention do not combine with it). Every peer's transactions are read
back (GET /transactions) and must be all T, in the same order. --json then prints exactly
{"peers","transactions","txSize","agreed","batches","elapsedMs","transactionsPerSecond",
"txLatencyMs":{"p50","p99"}} ("batches": the blocks that carried them; transactions/s: T over first
submit to last delivery at the last peer; latency: submit to delivery at the last peer).
${WAN_HELP}
With it, --json has "wan": {"delayMs","jitterMs","seed"} too.
Exit status: 0 when every live peer holds every payload and all agree on the blocks and the members,
1 otherwise, 2 on bad arguments.`

/** While changes are under way after the P payloads: one batch per this many ms. */
const TRICKLE_MS = 200
/** How long the blocks of the live peers may take to reach the same length at the end. */
const CATCH_UP_MS = 10_000

const DEFAULTS = { peers: 4, payloads: 200, size: 256 } as const
const MAX_BATCH = 25
const POLL_WAIT_MS = 5000
const IDLE_POLL_MS = 200

/** What `--stats` reads from each peer's status. */
export interface PeerStats {
  readonly cpuMs: number
  readonly verifications: { readonly count: number; readonly totalMs: number }
  /** Events gossip brought the peer, and those of them it held already (also: in requests only). */
  readonly gossipReceived: {
    readonly events: number
    readonly duplicates: number
    readonly inRequests?: { readonly events: number; readonly duplicates: number }
  }
}

export interface DemoSummary {
  peers: number
  payloads: number
  agreed: boolean
  blocks: number
  elapsedMs: number
  payloadsPerSecond: number
  latencyMs: { p50: number | null; p99: number | null }
  /** The final member list, when every live member reports the same one. */
  members?: string[]
  membersAgreed: boolean
  /** With --wan-delay-ms: the links' delay and the proxies' seed. */
  wan?: { delayMs: number; jitterMs: number; seed: number }
  /** With --leave / --kill: each requested change and how it ended. */
  changes?: { kind: string; peer: string; outcome: ChangeOutcome; reason?: string }[]
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

function sameBlock(a: BlockJson, b: BlockJson): boolean {
  return (
    a.position === b.position &&
    a.kind === b.kind &&
    a.payload === b.payload &&
    a.peer === b.peer &&
    a.offender === b.offender &&
    JSON.stringify(a.peers) === JSON.stringify(b.peers)
  )
}

/** Where the peers' block lists first differ (undefined: one is a prefix of the other). */
function firstDifference(lists: readonly BlockJson[][]): { peer: number; position: number } | undefined {
  const reference = lists[0]
  for (let peer = 1; peer < lists.length; peer++) {
    const list = lists[peer]
    const n = Math.min(list.length, reference.length)
    for (let i = 0; i < n; i++) if (!sameBlock(list[i], reference[i])) return { peer, position: i }
  }
  return undefined
}

export const demoCommand = {
  summary: 'run a local section of peer processes and check agreement',
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      peers: { type: 'string' },
      payloads: { type: 'string' },
      mode: { type: 'string' },
      size: { type: 'string' },
      join: { type: 'string' },
      leave: { type: 'string' },
      kill: { type: 'string' },
      json: { type: 'boolean' },
      batch: { type: 'string' },
      'in-flight': { type: 'string' },
      stats: { type: 'boolean' },
      'keep-dir': { type: 'boolean' },
      'api-token': { type: 'string' },
      'no-sync': { type: 'boolean' },
      'no-metrics': { type: 'boolean' },
      'block-retention': { type: 'string' },
      transactions: { type: 'string' },
      'tx-size': { type: 'string' },
      'tx-rate': { type: 'string' },
      'tx-open-batches': { type: 'string' },
      'tx-batch-bytes': { type: 'string' },
      ...WAN_FLAGS,
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    const wan = wanOptions(values)
    if (values.transactions !== undefined) {
      const alone = ['payloads', 'size', 'join', 'leave', 'kill', 'batch', 'in-flight', 'block-retention']
      const clash = alone.find((name) => (values as Record<string, unknown>)[name] !== undefined)
      if (clash !== undefined) throw new UsageError(`--transactions does not combine with --${clash}`)
      if (values.mode !== undefined && values.mode !== 'single') {
        throw new UsageError('--transactions needs a Single-mode section: no --mode supermajority')
      }
      const apiTokenFile = values['api-token'] as string | undefined
      if (apiTokenFile !== undefined) readApiTokenFile(apiTokenFile)
      const { runTransactionsDemo } = await import('./demo-transactions.js')
      return runTransactionsDemo({
        peers: intOption(values, 'peers', DEFAULTS.peers, 1, 32),
        transactions: intOption(values, 'transactions', 1, 1, 1_000_000),
        size: intOption(values, 'tx-size', 100, 4, API_LIMITS.maxTransactionBytes),
        ...(values['tx-rate'] === undefined ? {} : { rate: intOption(values, 'tx-rate', 1, 1, 1_000_000) }),
        json: values.json === true,
        keepDir: values['keep-dir'] === true,
        ...(apiTokenFile === undefined ? {} : { apiTokenFile }),
        startArgs: [
          '--checkpoint-blocks',
          '0',
          ...(values['no-sync'] === true ? ['--no-sync'] : []),
          ...(values['no-metrics'] === true ? ['--no-metrics'] : []),
          ...(values['tx-open-batches'] === undefined
            ? []
            : ['--tx-open-batches', `${intOption(values, 'tx-open-batches', 4, 1, 64)}`]),
          ...(values['tx-batch-bytes'] === undefined
            ? []
            : ['--tx-batch-bytes', `${intOption(values, 'tx-batch-bytes', 262_144, 32, 524_288)}`]),
        ],
        withStats: values.stats === true,
        ...(wan === undefined ? {} : { wan }),
      })
    }
    for (const name of ['tx-size', 'tx-rate', 'tx-open-batches', 'tx-batch-bytes'] as const) {
      if (values[name] !== undefined) throw new UsageError(`--${name} needs --transactions`)
    }
    const blockRetention = blockRetentionOption(values)
    const peers = intOption(values, 'peers', DEFAULTS.peers, 1, 32)
    const count = intOption(values, 'payloads', DEFAULTS.payloads, 1, 100_000)
    const size = intOption(values, 'size', DEFAULTS.size, 1, API_LIMITS.maxPayloadBytes)
    const mode: ConsensusMode = choiceOption(values, 'mode', ['single', 'supermajority'] as const, 'single')
    const leave = intOption(values, 'leave', 0, 0, 32)
    const kill = intOption(values, 'kill', 0, 0, 32)
    const join = intOption(values, 'join', 0, 0, 32)
    const plan = planChanges({ peers, join, leave, kill })
    const json = values.json === true
    const batchOption = intOption(values, 'batch', MAX_BATCH, 1, 10_000)
    const inFlight = intOption(values, 'in-flight', 1, 1, 64)
    const withStats = values.stats === true
    const keepDir = values['keep-dir'] === true
    const apiTokenFile = values['api-token'] as string | undefined
    if (apiTokenFile !== undefined) readApiTokenFile(apiTokenFile)
    const info = (line: string): void => {
      if (!json) console.error(line)
    }

    const began = Date.now()
    // Loaded after the arguments are checked: they pull in libp2p.
    const { LocalSection, startUpTimeoutMs } = await import('../local-section.js')
    const { MembershipChanges } = await import('../membership-changes.js')
    const startArgs = [
      // Without epochs: the demo checks every peer's blocks from genesis, which a joiner starting
      // at a checkpoint never delivers (docs/epochs.md; `soak-live` shows epochs).
      '--checkpoint-blocks',
      '0',
      ...(values['no-sync'] === true ? ['--no-sync'] : []),
      ...(values['no-metrics'] === true ? ['--no-metrics'] : []),
      ...(typeof blockRetention === 'number' ? ['--block-retention', `${blockRetention}`] : []),
      ...(plan.length > 0 ? DEMO_CHANGE_ARGS : []),
      ...(join > 0 ? DEMO_JOIN_ARGS : []),
    ]
    let changes: MembershipChanges | undefined
    const section = await LocalSection.create({
      peers,
      mode,
      keepDir,
      apiTokenFile,
      startArgs,
      ...(wan === undefined ? {} : { wan }),
      onLine: (peer, stream, line) => {
        if (stream === 'stdout') changes?.onLine(peer, line)
      },
    })
    const signals = section.guardSignals('demo')
    let progress: NodeJS.Timeout | undefined
    try {
      info(`section ${section.sectionId.slice(0, 16)}… (${mode}) of ${peers} peers in ${section.dir}`)
      if (wan !== undefined) console.error(describeWan(wan, section.wanSeed))
      // Half of the joiners know only the section id and this DHT node; the founders provide there.
      const dht = join >= 2 ? await section.startDht() : undefined
      if (dht !== undefined) info(`DHT node ${dht.peerId} at ${dht.addrs[0]}`)
      const founderArgs = dht === undefined ? [] : ['--bootstrap', dht.addrs[0]]
      await Promise.all(section.peers.map((peer) => section.start(peer.index, founderArgs)))
      await section.waitConnected(startUpTimeoutMs(peers))
      info(`all ${peers} peers running and connected after ${((Date.now() - began) / 1000).toFixed(1)} s`)
      const first = section.peers[0].ready?.api
      if (first !== undefined) {
        const token = section.apiToken === undefined ? '' : `#token=${section.apiToken.token}`
        info(`live view of the first peer: http://${first}/${token}`)
      }
      // The joiners (peers N, N+1, ...; started by their join, see membership-changes.ts).
      const waiting = new Set<number>()
      for (let j = 0; j < join; j++) {
        const founder = section.peers[j % peers].ready?.listen.find((addr) => addr.includes('/p2p/'))
        const viaDht = dht !== undefined && j >= Math.ceil(join / 2)
        const joiner = await section.addJoiner(viaDht ? [dht.addrs[0]] : [founder ?? ''])
        waiting.add(joiner.index)
      }

      // Distinct random payloads: P now, more while membership changes are under way.
      const payloads: Buffer[] = []
      const index = new Map<string, number>()
      const newPayload = (): number => {
        for (;;) {
          const bytes = randomBytes(size)
          const hex = bytes.toString('hex')
          if (index.has(hex)) continue
          index.set(hex, payloads.length)
          payloads.push(bytes)
          return payloads.length - 1
        }
      }
      while (payloads.length < count) newPayload()
      const firstVote: number[] = []
      /** Payloads voted so far (indices below), and whether the voting is over. */
      let voted = 0
      let votingDone = false
      let deadline = Date.now() + 60_000 + 50 * count

      // Where votes go (peers stop taking votes before they leave or are killed), what each was
      // given, and the POSTs still outstanding there.
      const voteAt = new Set(section.peers.map((peer) => peer.index).filter((i) => !waiting.has(i)))
      const votedAt: number[][] = section.peers.map(() => [])
      const postsAt: Set<Promise<unknown>>[] = section.peers.map(() => new Set())
      const gone = new Set<number>()

      // Collect every peer's blocks with long-polls while the votes go in.
      const collected: BlockJson[][] = section.peers.map(() => [])
      const seen: Set<number>[] = section.peers.map(() => new Set())
      const nextAt: number[] = section.peers.map(() => 0)
      const readBlocks = async (peer: number, wait: number): Promise<void> => {
        const answer = await section.api(peer).blocks({ from: nextAt[peer], limit: 1000, wait })
        if (answer.retainedFrom > nextAt[peer]) {
          throw new Error(
            `peer ${peer} no longer keeps blocks ${nextAt[peer]} to ${answer.retainedFrom - 1} (--block-retention ${blockRetention}): the demo cannot check them`,
          )
        }
        for (const block of answer.blocks) {
          collected[peer].push(block)
          const at = block.kind === 'opaque' ? index.get(block.payload ?? '') : undefined
          if (at !== undefined) seen[peer].add(at)
        }
        nextAt[peer] = answer.next
      }
      const collect = async (peer: number): Promise<void> => {
        while (!signals.interrupted && !gone.has(peer) && !(votingDone && seen[peer].size >= voted)) {
          const left = deadline - Date.now()
          if (left <= 0) return
          // Holding all voted so far: short polls, so the end of the voting is noticed at once.
          const wait = seen[peer].size >= voted ? IDLE_POLL_MS : POLL_WAIT_MS
          try {
            await readBlocks(peer, Math.min(wait, left))
          } catch (error) {
            if (gone.has(peer)) return // killed or leaving: its reads may fail
            throw error
          }
        }
      }
      const livePeers = (): number[] =>
        section.peers.map((p) => p.index).filter((i) => !gone.has(i) && !waiting.has(i))

      let lastMin = 0
      let lastTick = Date.now()
      progress = setInterval(() => {
        const now = Date.now()
        const min = Math.min(...livePeers().map((i) => seen[i].size))
        const rate = ((min - lastMin) * 1000) / Math.max(1, now - lastTick)
        lastMin = min
        lastTick = now
        const held = section.peers.map((p) =>
          gone.has(p.index) ? '-' : waiting.has(p.index) ? '·' : String(seen[p.index].size),
        )
        info(
          `  ${((now - began) / 1000).toFixed(1).padStart(5)} s  payloads delivered per peer: ${held.join(' ')}  (${rate.toFixed(0)} blocks/s at all peers)`,
        )
      }, 1000)
      // A joiner's blocks are read once it joined (from position 0: the section's whole sequence).
      const collectors = livePeers().map((peer) => collect(peer))

      // The membership changes, made while the votes go on.
      const quiesce = async (peer: number): Promise<void> => {
        voteAt.delete(peer)
        await Promise.allSettled([...postsAt[peer]])
        const mine = votedAt[peer]
        const until = Date.now() + 60_000
        for (;;) {
          const others = livePeers().filter((i) => i !== peer)
          const missing = others.reduce((n, i) => n + mine.filter((at) => !seen[i].has(at)).length, 0)
          if (missing === 0) return
          if (Date.now() >= until || signals.interrupted) {
            throw new Error(`${missing} deliveries missing after 60 s`)
          }
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      }
      changes =
        plan.length === 0
          ? undefined
          : new MembershipChanges(
              section,
              plan,
              {
                quiesce,
                resume: (peer) => voteAt.add(peer),
                departed: (peer) => {
                  voteAt.delete(peer)
                  waiting.delete(peer)
                  gone.add(peer)
                },
                joined: (peer) => {
                  waiting.delete(peer)
                  voteAt.add(peer)
                  collectors.push(collect(peer))
                },
                info,
              },
              began,
            )
      // The changes start once every peer delivered a quarter of the P payloads: a working section first.
      let changing = changes !== undefined
      const changed = changes
        ?.run(async () => {
          const first = Math.ceil(count / 4)
          while (!signals.interrupted && livePeers().some((i) => seen[i].size < first)) {
            await new Promise((resolve) => setTimeout(resolve, 100))
          }
        })
        .finally(() => {
          changing = false
        })

      const batch = Math.max(
        1,
        Math.min(batchOption, Math.floor(API_LIMITS.maxBodyBytes / 2 / (2 * size + 4))),
      )
      const pending = new Set<Promise<unknown>>()
      const track = (peer: number, post: Promise<unknown>): void => {
        postsAt[peer].add(post)
        void post.finally(() => postsAt[peer].delete(post)).catch(() => {})
      }
      info(`voting ${count} payloads of ${size} bytes in batches of ${batch}`)
      while (!signals.interrupted && (voted < count || changing)) {
        if (voted >= count) {
          // Past the P payloads: keep some going until the changes are over (decisions let the
          // others notice a silent member).
          // At most two batches undelivered: a slow section is not flooded.
          await new Promise((resolve) => setTimeout(resolve, TRICKLE_MS))
          while (
            changing &&
            !signals.interrupted &&
            livePeers().some((i) => seen[i].size < voted - 2 * batch)
          ) {
            await new Promise((resolve) => setTimeout(resolve, 50))
          }
          if (!changing || signals.interrupted) break
        }
        const targets = [...voteAt]
        const n = voted < count ? Math.min(batch, count - voted) : batch
        const slice = Array.from({ length: n }, () => {
          if (voted === payloads.length) newPayload()
          return voted++
        })
        const posts: Promise<number>[] = []
        if (mode === 'single') {
          const byPeer = new Map<number, number[]>()
          for (const i of slice) {
            const peer = targets[randomInt(targets.length)]
            byPeer.set(peer, [...(byPeer.get(peer) ?? []), i])
          }
          for (const [peer, list] of byPeer) {
            const now = Date.now()
            for (const i of list) firstVote[i] = now
            votedAt[peer].push(...list)
            const post = section.api(peer).vote(list.map((i) => payloads[i]))
            track(peer, post)
            posts.push(post)
          }
        } else {
          const now = Date.now()
          for (const i of slice) firstVote[i] = now
          const list = slice.map((i) => payloads[i])
          for (const peer of targets) {
            votedAt[peer].push(...slice)
            const post = section.api(peer).vote(list)
            track(peer, post)
            posts.push(post)
          }
        }
        deadline = Math.max(deadline, Date.now() + 60_000)
        const all = Promise.all(posts)
        pending.add(all)
        void all.finally(() => pending.delete(all)).catch(() => {})
        if (pending.size >= inFlight) await Promise.race(pending)
      }
      await Promise.all(pending)
      await changed
      votingDone = true
      const votedMs = Date.now() - Math.min(...firstVote)
      info(`all ${voted} payloads voted in ${(votedMs / 1000).toFixed(2)} s`)
      await Promise.all(collectors)
      const live = livePeers()
      // A live peer may have read a block or two beyond the others' last payload: let them catch up.
      const catchUp = Date.now() + CATCH_UP_MS
      for (;;) {
        const longest = Math.max(...live.map((i) => collected[i].length))
        const behind = live.filter((i) => collected[i].length < longest)
        if (behind.length === 0 || Date.now() >= catchUp || signals.interrupted) break
        await Promise.all(behind.map((i) => readBlocks(i, Math.max(1, catchUp - Date.now()))))
      }
      const statuses = await Promise.all(live.map((i) => section.api(i).status()))
      const stats = withStats
        ? statuses.map(
            (status): PeerStats => ({
              cpuMs: status.cpuMs,
              verifications: status.verifications,
              gossipReceived: status.gossipReceived,
            }),
          )
        : undefined
      clearInterval(progress)
      progress = undefined
      if (signals.interrupted) return 1

      // Agreement: the same blocks in the same order at every live peer, all payloads everywhere.
      const lists = live.map((i) => collected[i])
      const complete = live.every((i) => seen[i].size === voted)
      const lengths = lists.map((list) => list.length)
      const difference = firstDifference(lists)
      const agreed = complete && difference === undefined && lengths.every((n) => n === lengths[0])
      const memberLists = statuses.map((status) => JSON.stringify(status.members))
      const membersAgreed = memberLists.every((list) => list === memberLists[0])

      // Latency and elapsed time from the live peers' delivery times.
      const lastDelivery: number[] = new Array(voted).fill(Number.NaN)
      const deliveredEverywhere: number[] = new Array(voted).fill(0)
      for (const list of lists) {
        for (const block of list) {
          const at = block.kind === 'opaque' ? index.get(block.payload ?? '') : undefined
          if (at === undefined || block.deliveredAt === null) continue
          deliveredEverywhere[at]++
          lastDelivery[at] = Number.isNaN(lastDelivery[at])
            ? block.deliveredAt
            : Math.max(lastDelivery[at], block.deliveredAt)
        }
      }
      const latencies: number[] = []
      let lastBlock = 0
      for (let i = 0; i < voted; i++) {
        if (Number.isNaN(lastDelivery[i])) continue
        lastBlock = Math.max(lastBlock, lastDelivery[i])
        if (deliveredEverywhere[i] >= live.length) latencies.push(lastDelivery[i] - firstVote[i])
      }
      latencies.sort((a, b) => a - b)
      const t0 = Math.min(...firstVote)
      const elapsedMs = Math.max(0, lastBlock - t0)
      const summary: DemoSummary = {
        peers,
        payloads: voted,
        agreed,
        blocks: lengths[0],
        elapsedMs,
        payloadsPerSecond: elapsedMs > 0 ? Math.round((latencies.length * 10_000) / elapsedMs) / 10 : 0,
        latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
        ...(membersAgreed ? { members: [...statuses[0].members] } : {}),
        membersAgreed,
        ...(wan === undefined
          ? {}
          : { wan: { delayMs: wan.delayMs, jitterMs: wan.jitterMs ?? 0, seed: section.wanSeed ?? 0 } }),
        ...(changes === undefined
          ? {}
          : {
              changes: changes.changes.map((change) => ({
                kind: change.kind,
                peer: change.peerId,
                outcome: change.outcome,
                ...(change.reason === undefined ? {} : { reason: change.reason }),
              })),
            }),
      }
      const held = section.peers.map((p) => (gone.has(p.index) ? '-' : String(seen[p.index].size)))
      if (json) {
        console.log(JSON.stringify(stats === undefined ? summary : { ...summary, stats }))
      } else {
        const ok = agreed && membersAgreed
        console.log(
          `peers ${peers} (${mode}), payloads ${voted} of ${size} bytes: ${ok ? 'AGREED' : 'NOT AGREED'}`,
        )
        const gonePart = gone.size > 0 ? ` (${gone.size} gone)` : ''
        const all = live.length === 1 ? 'the 1 live peer' : `all ${live.length} live peers`
        if (agreed) {
          console.log(`  ${all}${gonePart} delivered the same ${lengths[0]} blocks in the same order`)
        } else {
          console.log(
            `  payloads held per peer: ${held.join(' ')} of ${voted}; blocks per live peer: ${lengths.join(' ')}`,
          )
          if (difference !== undefined) {
            console.log(
              `  peer ${live[difference.peer]} differs from peer ${live[0]} at position ${difference.position}`,
            )
          }
        }
        if (membersAgreed) {
          console.log(
            `  ${all} report${live.length === 1 ? 's' : ''} the same ${statuses[0].members.length} members`,
          )
        } else {
          live.forEach((peer, i) => {
            console.log(
              `  peer ${peer} reports ${statuses[i].members.length} members: ${statuses[i].members.join(' ')}`,
            )
          })
        }
        for (const change of changes?.changes ?? []) console.log(`  ${changes?.describe(change)}`)
        console.log(
          `  elapsed ${(elapsedMs / 1000).toFixed(2)} s (first vote to last block at the last peer), ${summary.payloadsPerSecond} payloads/s`,
        )
        console.log(
          `  latency p50 ${summary.latencyMs.p50 ?? '-'} ms, p99 ${summary.latencyMs.p99 ?? '-'} ms`,
        )
        if (keepDir) console.log(`  kept ${section.dir}`)
        stats?.forEach((peer, i) => {
          const { count: n, totalMs } = peer.verifications
          console.log(
            `  peer ${live[i]}: CPU ${peer.cpuMs.toFixed(0)} ms, ${n} signature verifications in ${totalMs.toFixed(0)} ms`,
          )
        })
      }
      return agreed && membersAgreed ? 0 : 1
    } catch (error) {
      if (signals.interrupted) return 1
      console.error(`parsec-peer demo: ${(error as Error).message}`)
      return 1
    } finally {
      if (progress !== undefined) clearInterval(progress)
      if (!signals.interrupted) await section.close()
      signals.dispose()
    }
  },
}
