/**
 * Join latency against the section's history, over real libp2p (`parsec-peer bench-live`, its join
 * table). A local section of `parsec-peer start` processes (LocalSection) is voted random payloads
 * as fast as it takes them (one batch of 25 in flight at every founder, at most 1,000 payloads not yet
 * delivered at peer 0) until peer 0 created (its graphs, of every epoch, held)
 * the next history size in events; the votes stop and settle; then a new peer starts with `start
 * --join SECTION_ID --bootstrap <peer 0>` and is timed from its ready line (libp2p listening, its
 * membership machine started: it asks for JoinInfo and sends its request at once) to its `member`
 * line, with the steps between: `candidate` (admitted: its catch-up starts) and `joining` (its Add
 * agreed). The sizes are reached one after the other in the same section (1,000 events are the
 * start of 10,000): after each join the joiner leaves again (`POST /leave`) so that every joiner
 * meets the same founders.
 */
import { randomBytes } from 'node:crypto'
import { LocalSection } from './local-section.js'

export interface JoinLatencyOptions {
  /** Founders of the section. */
  readonly peers: number
  /** Events in peer 0's graph before each joiner asks, ascending. */
  readonly histories: readonly number[]
  /** Joins per history size (one after the other, each joiner leaving before the next). */
  readonly runs: number
  readonly payloadBytes: number
  /** Arguments of every `start` (founders and joiners alike). */
  readonly startArgs: readonly string[]
  /** From a joiner's ready line to `member`, at most. */
  readonly joinTimeoutMs: number
  readonly info: (line: string) => void
}

export interface JoinLatencyRow {
  readonly peers: number
  /** The history asked for, and what peer 0 held when the joiner started. */
  readonly history: number
  readonly events: number
  readonly blocks: number
  /** Voting from the previous size to this one (the first: from genesis), and settling. */
  readonly buildMs: number
  /** Undecided votes at the founders when the joiner started (0 unless some never settled). */
  readonly pendingAtJoin: number
  readonly joined: boolean
  readonly reason?: string
  /** Spawn to ready line: node, libp2p and the control API starting (no history involved). */
  readonly startMs: number
  /** From the ready line: admitted (`candidate`), Add agreed (`joining`), `member` (the latency). */
  readonly candidateMs: number | null
  readonly joiningMs: number | null
  readonly memberMs: number | null
  /** Its catch-up: events and pages pulled over all its pulls (it pulls again until its Add). */
  readonly caughtUpEvents: number | null
  readonly pages: number | null
  /** Its join requests refused on the way (`join:rejected` reasons, e.g. StaleTicket), in order. */
  readonly rejections: string[]
  /** From the ready line to the end of its first pull (it then held what its server held), and
   * that pull's events per second from `candidate`. */
  readonly historyMs: number | null
  readonly historyEvents: number | null
  readonly historyEventsPerSecond: number | null
  /** The joiner left again before the next size (so every joiner meets the founders alone). */
  readonly left: boolean
}

const BATCH = 25
/**
 * At most this many payloads voted and not yet delivered at peer 0 while the history grows. Open
 * loop (every founder voting as fast as its API takes votes), the backlog of undecided votes grows
 * without bound and decisions lag far behind (BENCHMARKS.md, "the open-loop stall"): the history
 * would then be mostly a backlog, not agreed blocks.
 */
const OUTSTANDING = 1000
/** Votes in flight settle within this (a membership vote left undecided may never: then on). */
const SETTLE_MS = 15_000
const LEAVE_TIMEOUT_MS = 60_000

interface JoinerLine {
  readonly event?: string
  readonly self?: string
  readonly events?: number
  readonly pages?: number
  readonly reason?: string
  readonly done?: boolean
}

/** What one joiner printed, with when. */
class JoinerWatch {
  readonly at = new Map<string, number>()
  readonly rejections: string[] = []
  /** Events and pages of the pulls finished, and of the one under way. */
  private pulled = { events: 0, pages: 0 }
  private pull: { events: number; pages: number } | undefined
  firstPull: { events: number; pages: number; at: number } | undefined
  private wake: (() => void) | undefined

  onLine(line: string): void {
    let parsed: JoinerLine
    try {
      parsed = JSON.parse(line) as JoinerLine
    } catch {
      return
    }
    const now = Date.now()
    const mark = (name: string): void => {
      if (!this.at.has(name)) this.at.set(name, now)
    }
    if (parsed.event === 'ready') mark('ready')
    else if (parsed.event === 'self' && typeof parsed.self === 'string') mark(parsed.self)
    else if (parsed.event === 'self:joined') mark('member')
    else if (parsed.event === 'join:rejected' && typeof parsed.reason === 'string') {
      this.rejections.push(parsed.reason)
    } else if (parsed.event === 'catchup' && typeof parsed.events === 'number') {
      const pages = parsed.pages ?? 0
      // Each pull counts its pages from 1.
      if (this.pull !== undefined && pages <= this.pull.pages) {
        this.pulled = {
          events: this.pulled.events + this.pull.events,
          pages: this.pulled.pages + this.pull.pages,
        }
      }
      this.pull = { events: parsed.events, pages }
      // The first pull ends once it held what its server held: the history is replayed.
      if (parsed.done === true && this.firstPull === undefined) this.firstPull = { ...this.pull, at: now }
    }
    this.wake?.()
  }

  get caughtUp(): { events: number; pages: number } | undefined {
    if (this.pull === undefined) return undefined
    return { events: this.pulled.events + this.pull.events, pages: this.pulled.pages + this.pull.pages }
  }

  /** Resolves when `name` was seen, or false after `timeoutMs` or when `gone` resolves. */
  async until(name: string, timeoutMs: number, gone: Promise<unknown>): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    let over = false
    void gone.then(() => {
      over = true
      this.wake?.()
    })
    while (!this.at.has(name) && !over && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
    this.wake = undefined
    return this.at.has(name)
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Votes at every founder, one batch in flight each, until peer 0's graph holds `events`. */
async function grow(section: LocalSection, founders: number, events: number, bytes: number): Promise<void> {
  let reached = false
  let failure: Error | undefined
  let accepted = 0
  let delivered = 0
  const voter = async (peer: number): Promise<void> => {
    while (!reached) {
      if (accepted - delivered >= OUTSTANDING) {
        await sleep(20)
        continue
      }
      accepted += BATCH
      try {
        await section.api(peer).vote(Array.from({ length: BATCH }, () => randomBytes(bytes)))
      } catch (error) {
        // A live peer's API may drop a request on a loaded machine (a kept-alive socket closed as
        // it was reused): vote on. A peer that exited ends the run, saying why.
        const state = section.peers[peer]
        if (state.child !== undefined) {
          await sleep(100)
          continue
        }
        failure ??= new Error(
          `founder ${peer} exited while the history grew (${(error as Error).message}): ${state.stderr.slice(-5).join(' | ')}`,
        )
        reached = true
      }
    }
  }
  const watcher = async (): Promise<void> => {
    while (!reached) {
      const status = await section
        .api(0)
        .status()
        .catch((error: Error) => {
          if (section.peers[0].child === undefined) throw error
          return undefined // Dropped on a loaded machine, as a vote may be: ask again.
        })
      if (status !== undefined) delivered = status.deliveredBlocks
      // Every event peer 0 created, the earlier epochs' included (its graph is the current one's).
      if (status !== undefined && status.eventsCreated >= events) reached = true
      else await sleep(100)
    }
  }
  const voters = Array.from({ length: founders }, (_, peer) => voter(peer))
  try {
    await watcher()
  } finally {
    reached = true
    await Promise.all(voters)
  }
  if (failure !== undefined) throw failure
}

/** Until no founder has undecided votes (at most `SETTLE_MS`); the undecided votes left. */
async function settle(section: LocalSection, founders: number): Promise<number> {
  const deadline = Date.now() + SETTLE_MS
  for (;;) {
    const statuses = await Promise.all(
      Array.from({ length: founders }, (_, peer) => section.api(peer).status()),
    )
    const pending = statuses.reduce((sum, status) => sum + status.pendingObservations, 0)
    if (pending === 0 || Date.now() >= deadline) return pending
    await sleep(250)
  }
}

/** Measures one join per history size (see the module comment). */
export async function measureJoinLatency(options: JoinLatencyOptions): Promise<JoinLatencyRow[]> {
  const watches = new Map<number, JoinerWatch>()
  const section = await LocalSection.create({
    peers: options.peers,
    startArgs: options.startArgs,
    onLine: (peer, stream, line) => {
      if (stream !== 'stdout') return
      watches.get(peer)?.onLine(line)
      // A membership change at a founder other than the joins measured (a founder removed under
      // load, say) makes a joiner's ticket stale: shown as it happens.
      if (peer === 0 && /"event":"member:(left|banned)"/.test(line)) {
        const {
          event,
          peer: who,
          reason,
        } = JSON.parse(line) as { event: string; peer?: string; reason?: string }
        const joiner = [...watches.keys()].some((index) => section.peers[index]?.peerId === who)
        if (!joiner)
          options.info(`  founder 0 saw ${event} ${who ?? ''}${reason === undefined ? '' : ` (${reason})`}`)
      }
    },
  })
  const onExit = (): void => section.killAllNow()
  process.on('exit', onExit)
  const rows: JoinLatencyRow[] = []
  try {
    await section.startAll()
    await section.waitConnected(60_000)
    const bootstrap = section.peers[0].ready?.listen.find((addr) => addr.includes('/p2p/'))
    if (bootstrap === undefined) throw new Error('peer 0 has no /p2p/ address')
    for (const history of options.histories) {
      for (let run = 0; run < options.runs; run++) {
        const building = Date.now()
        await grow(section, options.peers, history, options.payloadBytes)
        const pending = await settle(section, options.peers)
        const buildMs = Date.now() - building
        const before = await section.api(0).status()
        options.info(
          `  ${options.peers} founders: ${before.eventsCreated} events (epoch ${before.epoch}), ${before.deliveredBlocks} blocks after ${(buildMs / 1000).toFixed(1)} s` +
            `${pending === 0 ? '' : `, ${pending} votes still undecided`}; a peer joins`,
        )
        const joiner = await section.addJoiner([bootstrap])
        const watch = new JoinerWatch()
        watches.set(joiner.index, watch)
        const spawned = Date.now()
        let reason: string | undefined
        try {
          await section.start(joiner.index)
        } catch (error) {
          reason = `did not start: ${(error as Error).message}`
        }
        const gone = section.peers[joiner.index].exited ?? Promise.resolve()
        const member = reason === undefined && (await watch.until('member', options.joinTimeoutMs, gone))
        if (reason === undefined && !member) {
          const last = [...watch.at.keys()].at(-1) ?? 'nothing'
          reason =
            section.peers[joiner.index].child === undefined
              ? `its process exited: ${section.peers[joiner.index].stderr.at(-1) ?? ''}`
              : `still ${last} after ${options.joinTimeoutMs} ms`
          // What the founders make of it: a membership change meanwhile makes its ticket stale.
          const founders = await Promise.all(
            Array.from({ length: options.peers }, (_, peer) =>
              section
                .api(peer)
                .status()
                .then(
                  (s) =>
                    `seq ${s.seq}, ${s.members.length} members, ${s.candidates.length} candidates, ${s.suspected.length} suspected`,
                  (error: Error) => error.message,
                ),
            ),
          )
          reason += `; founders: ${founders.map((f, i) => `${i}: ${f}`).join('; ')}`
        }
        const ready = watch.at.get('ready')
        const since = (name: string): number | null => {
          const at = watch.at.get(name)
          return at === undefined || ready === undefined ? null : at - ready
        }
        const candidateMs = since('candidate')
        const joiningMs = since('joining') ?? since('member')
        const caughtUp = watch.caughtUp
        const first = watch.firstPull
        const historyMs = first === undefined || ready === undefined ? undefined : first.at - ready
        const left = member && (await leave(section, joiner.index, options.peers))
        if (!left) await section.kill(joiner.index)
        const row: JoinLatencyRow = {
          peers: options.peers,
          history,
          events: before.eventsCreated,
          blocks: before.deliveredBlocks,
          buildMs,
          pendingAtJoin: pending,
          joined: member,
          ...(reason === undefined ? {} : { reason }),
          startMs: (ready ?? spawned) - spawned,
          candidateMs,
          joiningMs,
          memberMs: since('member'),
          caughtUpEvents: caughtUp?.events ?? null,
          pages: caughtUp?.pages ?? null,
          rejections: [...watch.rejections],
          historyMs: historyMs ?? null,
          historyEvents: first?.events ?? null,
          historyEventsPerSecond:
            first === undefined || historyMs === undefined || candidateMs === null || historyMs <= candidateMs
              ? null
              : Math.round((first.events * 1000) / (historyMs - candidateMs)),
          left,
        }
        options.info(
          `  joined: ${row.joined}${reason === undefined ? '' : ` (${reason})`}, member after ${row.memberMs} ms ` +
            `(candidate ${row.candidateMs}, history replayed ${row.historyMs}, joining ${row.joiningMs}), ${row.caughtUpEvents} events caught up in ${row.pages} pages` +
            (row.rejections.length === 0 ? '' : `; rejected: ${row.rejections.join(', ')}`),
        )
        rows.push(row)
      }
    }
    return rows
  } finally {
    process.off('exit', onExit)
    await section.close()
  }
}

/** The joiner leaves and exits; true once the founders list only themselves again. */
async function leave(section: LocalSection, joiner: number, founders: number): Promise<boolean> {
  try {
    await section.api(joiner).leave()
  } catch {
    return false
  }
  const deadline = Date.now() + LEAVE_TIMEOUT_MS
  while (Date.now() < deadline) {
    const members = (await section.api(0).status()).members
    if (members.length === founders && section.peers[joiner].child === undefined) return true
    await sleep(250)
  }
  return false
}
