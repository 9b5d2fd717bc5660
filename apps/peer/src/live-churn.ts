/**
 * Agreed payloads per second while members join and leave, against a steady section of the same
 * size under the same load (`parsec-peer bench-live`, its churn table). A local section of N
 * `parsec-peer start` processes is voted random payloads in a closed loop: batches at random
 * voting members, one POST at a time, while fewer than `outstanding` payloads are voted and not
 * yet delivered at peer 0 (the reference, which never leaves). After a warm-up, payloads
 * delivered at peer 0 are counted for `seconds`. With churn, during that window a new peer joins
 * (`start --join`, through peer 0), then the oldest other member leaves (`POST /leave`, after the
 * others delivered what it was voted), and again, so the section holds N or N+1 members; steady,
 * nothing changes.
 */
import { randomBytes, randomInt } from 'node:crypto'
import { percentile } from './commands/demo.js'
import { LocalSection } from './local-section.js'

export interface ChurnOptions {
  readonly peers: number
  readonly churn: boolean
  /** The measured window, after `warmupSeconds` of votes. */
  readonly seconds: number
  readonly warmupSeconds: number
  /** Payloads voted and not yet delivered at the reference, at most. */
  readonly outstanding: number
  readonly batch: number
  readonly payloadBytes: number
  readonly startArgs: readonly string[]
  readonly info: (line: string) => void
}

export interface ChurnRun {
  readonly peers: number
  readonly churn: boolean
  readonly seconds: number
  /** Payloads delivered at the reference within the window, per second. */
  readonly payloads: number
  readonly payloadsPerSecond: number
  /** Vote to delivery at the reference, for the payloads voted within the window. */
  readonly latencyMs: { readonly p50: number | null; readonly p99: number | null }
  /** Changes done within the window (requested to seen at the reference), and their durations. */
  readonly joins: number
  readonly leaves: number
  readonly joinMs: number[]
  readonly leaveMs: number[]
  /** A change that failed (the churn stopped there). */
  readonly failure?: string
  /** Members at the reference: fewest and most seen during the window. */
  readonly membersMin: number
  readonly membersMax: number
}

const JOIN_TIMEOUT_MS = 120_000
const CHANGE_TIMEOUT_MS = 60_000
const POLL_MS = 100
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export async function measureChurn(options: ChurnOptions): Promise<ChurnRun> {
  const section = await LocalSection.create({ peers: options.peers, startArgs: options.startArgs })
  const onExit = (): void => section.killAllNow()
  process.on('exit', onExit)
  try {
    await section.startAll()
    await section.waitConnected(60_000)
    const bootstrap = section.peers[0].ready?.listen.find((addr) => addr.includes('/p2p/'))
    if (bootstrap === undefined) throw new Error('peer 0 has no /p2p/ address')

    // Payloads by hex; when each was voted and where, when it reached the reference.
    const index = new Map<string, number>()
    const votedAt: number[] = []
    const votedBy: number[] = []
    const deliveredAt: number[] = []
    let delivered = 0
    /** Voted at peers that left before delivering them: no longer outstanding. */
    let lost = 0
    const targets = new Set(section.peers.map((peer) => peer.index))
    const inFlight = new Map<number, Promise<unknown>>()
    let stopping = false

    const reader = async (): Promise<void> => {
      let next = 0
      while (!stopping) {
        const answer = await section.api(0).blocks({ from: next, limit: 1000, wait: 1000 })
        const now = Date.now()
        for (const block of answer.blocks) {
          const at = block.kind === 'opaque' ? index.get(block.payload ?? '') : undefined
          if (at === undefined || deliveredAt[at] !== undefined) continue
          deliveredAt[at] = block.deliveredAt ?? now
          delivered++
        }
        next = answer.next
      }
    }
    const voter = async (): Promise<void> => {
      while (!stopping) {
        const room = options.outstanding - (votedAt.length - delivered - lost)
        const live = [...targets]
        if (room <= 0 || live.length === 0) {
          await sleep(5)
          continue
        }
        const peer = live[randomInt(live.length)]
        const payloads = Array.from({ length: Math.min(room, options.batch) }, () =>
          randomBytes(options.payloadBytes),
        )
        const now = Date.now()
        for (const bytes of payloads) {
          index.set(bytes.toString('hex'), votedAt.length)
          votedAt.push(now)
          votedBy.push(peer)
        }
        const post = section.api(peer).vote(payloads)
        inFlight.set(peer, post)
        await post.catch(() => {})
        inFlight.delete(peer)
      }
    }
    const members = async (): Promise<readonly string[]> => (await section.api(0).status()).members
    let membersMin = Number.POSITIVE_INFINITY
    let membersMax = 0
    const watchMembers = async (from: number, to: number): Promise<void> => {
      while (!stopping && Date.now() < to) {
        if (Date.now() >= from) {
          const n = (await members()).length
          membersMin = Math.min(membersMin, n)
          membersMax = Math.max(membersMax, n)
        }
        await sleep(250)
      }
    }

    const from = Date.now() + options.warmupSeconds * 1000
    const to = from + options.seconds * 1000
    // The churn: join, then the oldest other member leaves, until the window is over.
    const joinMs: number[] = []
    const leaveMs: number[] = []
    let failure: string | undefined
    const order = section.peers.map((peer) => peer.index).filter((i) => i !== 0)
    /** False when the window ended first (the change is left unfinished, not counted). */
    const join = async (): Promise<boolean> => {
      const joiner = await section.addJoiner([bootstrap])
      const requested = Date.now()
      await section.start(joiner.index)
      for (;;) {
        const own = await joiner.api?.status().catch(() => undefined)
        if (own?.self === 'member' && (await members()).includes(joiner.peerId)) break
        if (joiner.child === undefined) throw new Error(`joiner ${joiner.index} exited`)
        if (Date.now() >= to) return false
        if (Date.now() - requested > JOIN_TIMEOUT_MS) throw new Error(`joiner ${joiner.index}: ${own?.self}`)
        await sleep(POLL_MS)
      }
      joinMs.push(Date.now() - requested)
      targets.add(joiner.index)
      order.push(joiner.index)
      return true
    }
    const leave = async (): Promise<boolean> => {
      const peer = order.shift()
      if (peer === undefined) throw new Error('no member to leave')
      // Its payloads delivered first: one left undecided at its removal might never be.
      targets.delete(peer)
      await inFlight.get(peer)?.catch(() => {})
      const quiet = Date.now() + CHANGE_TIMEOUT_MS
      const mine = (): number[] =>
        votedBy.flatMap((by, at) => (by === peer && deliveredAt[at] === undefined ? [at] : []))
      while (mine().length > 0 && Date.now() < quiet) await sleep(POLL_MS)
      const undelivered = mine()
      lost += undelivered.length
      for (const at of undelivered) deliveredAt[at] = Number.NaN
      const requested = Date.now()
      await section.api(peer).leave()
      const id = section.peers[peer].peerId
      while ((await members()).includes(id)) {
        if (Date.now() >= to) return false
        if (Date.now() - requested > CHANGE_TIMEOUT_MS) throw new Error(`peer ${peer} not removed`)
        await sleep(POLL_MS)
      }
      leaveMs.push(Date.now() - requested)
      return true
    }

    const reading = reader()
    const voting = voter()
    const watching = watchMembers(from, to)
    options.info(
      `  ${options.peers} peers${options.churn ? ', members joining and leaving' : ', steady'}: warm-up ${options.warmupSeconds} s, then ${options.seconds} s`,
    )
    await sleep(from - Date.now())
    let joins = 0
    let leaves = 0
    if (options.churn) {
      try {
        while (Date.now() < to) {
          if (!(await join())) break
          joins++
          options.info(`    joined after ${joinMs.at(-1)} ms`)
          if (Date.now() >= to || !(await leave())) break
          leaves++
          options.info(`    left after ${leaveMs.at(-1)} ms`)
        }
      } catch (error) {
        failure = (error as Error).message
        options.info(`    churn stopped: ${failure}`)
      }
    }
    await sleep(Math.max(0, to - Date.now()))
    // Counted before the loops stop: what reached the reference within the window.
    const inWindow = deliveredAt.filter((at) => at >= from && at < to).length
    const latencies = votedAt
      .flatMap((at, i) => (at >= from && at < to && deliveredAt[i] >= at ? [deliveredAt[i] - at] : []))
      .sort((a, b) => a - b)
    stopping = true
    await Promise.all([voting, watching, reading.catch(() => {})])
    const run: ChurnRun = {
      peers: options.peers,
      churn: options.churn,
      seconds: options.seconds,
      payloads: inWindow,
      payloadsPerSecond: Math.round((inWindow * 10) / options.seconds) / 10,
      latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
      joins,
      leaves,
      joinMs,
      leaveMs,
      ...(failure === undefined ? {} : { failure }),
      membersMin: Number.isFinite(membersMin) ? membersMin : 0,
      membersMax,
    }
    options.info(
      `  ${run.payloadsPerSecond} payloads/s, p50 ${run.latencyMs.p50} ms, p99 ${run.latencyMs.p99} ms; ${joins} joins, ${leaves} leaves; members ${run.membersMin}-${run.membersMax}`,
    )
    return run
  } finally {
    process.off('exit', onExit)
    await section.close()
  }
}
