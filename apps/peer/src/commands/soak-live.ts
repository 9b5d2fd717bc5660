/**
 * `parsec-peer soak-live` (`pnpm soak:live`): how a live section's memory and disk grow with its
 * history (the benchmark of issue 12, "Long-lived sections"). A local section of `parsec-peer
 * start` processes is voted random payloads as fast as it takes them until E events were created;
 * every peer's RSS and data-directory size are sampled as the events pass 1% of E, then every 5%.
 * The peers keep only their last 10,000 agreed blocks by default (`--block-retention`), and run
 * epochs of 1,000 blocks (`--checkpoint-blocks`; `--no-epochs` for the comparison): each epoch's
 * gossip graph is dropped once the next one runs (docs/epochs.md).
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { API_LIMITS } from '../api-limits.js'
import { blockRetentionOption, intOption, parse, UsageError } from '../args.js'
import type { LocalSection, StatusJson } from '../local-section.js'

/**
 * Payloads voted and not yet delivered by every peer, at most. An open loop (0) lets the backlog of
 * undecided votes grow without bound, and that backlog, not the history, then fills the memory
 * (decisions lag far behind the flood and catch up after it: BENCHMARKS.md, "the open-loop stall").
 */
const DEFAULT_OUTSTANDING = 1000
/** The agreed blocks each peer keeps (issue 12: the soak's default retention). */
const DEFAULT_BLOCK_RETENTION = 10_000
/** Agreed blocks per epoch (issue 12's default K). */
const DEFAULT_CHECKPOINT_BLOCKS = 1000

const HELP = `usage: parsec-peer soak-live --peers N --events E [--payload-size B] [--outstanding K]
                             [--block-retention R|all] [--checkpoint-blocks C | --no-epochs]
                             [--dir DIR] [--json]

Starts a section of N peers ('parsec-peer start' child processes on 127.0.0.1) and, once they are
connected, votes random payloads of B bytes (default 256) at every peer, one batch of 25 in flight
per peer, as fast as the section takes them with at most K payloads (default ${DEFAULT_OUTSTANDING};
0: no bound) voted and not yet delivered by every peer, until E events were created in the section:
until the peers' graphs held E events (the largest GET /status eventsCreated: every event of every
epoch's graph; every peer's graph holds every peer's events). The peers run with 'start --block-retention R' (default
${DEFAULT_BLOCK_RETENTION.toLocaleString('en-US')}; 'all': every block kept): each keeps only its last R agreed blocks; and with
'start --checkpoint-blocks C' (default ${DEFAULT_CHECKPOINT_BLOCKS.toLocaleString('en-US')}): every C agreed blocks the section agrees a checkpoint
and starts a new epoch, dropping the old gossip graph (docs/epochs.md). --no-epochs runs without
epochs, for the comparison. --dir DIR puts the section (keys, genesis, each peer's data directory
DIR/peer-I) in DIR and keeps it after the run, to look at the stores' files; by default a temporary
directory, removed at the end.
Every peer's RSS and JavaScript heap in use (GET /status memory) and the size of its data directory on disk (what du counts)
are sampled when the events pass 1% of E, then 5%, 10%, ... 100% of E (marks passed between two
readings, 200 ms apart, share a sample). Voting then stops;
once no peer has undecided votes and all delivered as many blocks (at most 120 s), every peer's
delivered blocks are compared through a digest of their agreed content (those all peers still
keep: the last R).
Progress goes to stderr; stdout gets a table of the samples or, with --json, exactly one line:
{"peers": N, "agreed": bool, "events": e, "blocks": b,
 "samples": [{"events": e, "rssBytes": [per peer], "heapUsedBytes": [per peer], "diskBytes": [per peer]}, ...]}
agreed: every peer delivered the same blocks in the same order; events: the events created (eventsCreated) at the
end; blocks: the blocks every peer delivered.
Exit status: 0 when the peers agreed and every vote was delivered, 1 otherwise, 2 on bad arguments.`

const CONNECT_TIMEOUT_MS = 30_000
/** How long the last votes may take to be decided and delivered everywhere. */
const SETTLE_TIMEOUT_MS = 120_000
/** How often the peers' graphs are read while voting (a mark is sampled at most this late). */
const POLL_MS = 200
/** Payloads per POST /votes (live-join.ts votes the same batches). */
const BATCH = 25
const MAX_ERRORS = 20

export interface SoakSample {
  /** The events created (the largest eventsCreated among the peers) when the sample was read. */
  readonly events: number
  readonly rssBytes: number[]
  /** The JavaScript heap in use (no collection forced): tells live objects from what RSS keeps. */
  readonly heapUsedBytes: number[]
  readonly diskBytes: number[]
}

export interface SoakReport {
  readonly peers: number
  readonly agreed: boolean
  readonly events: number
  readonly blocks: number
  readonly samples: SoakSample[]
}

/** The sample marks: 1% of E, then every 5% up to E. */
export function marks(events: number): number[] {
  const out = [Math.ceil(events / 100)]
  for (let k = 1; k <= 20; k++) out.push(Math.ceil((k * events) / 20))
  return out
}

/** MB per 100,000 events between the first and last sample, the mean of the peers' slopes. */
export function slope(samples: readonly SoakSample[], of: 'rssBytes' | 'diskBytes'): number | null {
  const first = samples[0]
  const last = samples[samples.length - 1]
  if (first === undefined || last.events <= first.events) return null
  const growth = last[of].reduce((sum, bytes, peer) => sum + bytes - first[of][peer], 0) / last[of].length
  return (growth / 1e6 / (last.events - first.events)) * 100_000
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Every peer's status (an error names the peer that did not answer). */
function statusesOf(section: LocalSection): Promise<StatusJson[]> {
  return Promise.all(
    section.peers.map((peer) =>
      section
        .api(peer.index)
        .status()
        .catch((error: Error) => {
          const last = peer.stderr.at(-1)
          throw new Error(
            `peer ${peer.index} did not answer GET /status: ${error.message}${last === undefined ? '' : ` (${last})`}`,
          )
        }),
    ),
  )
}

const mb = (bytes: number): string => (bytes / 1e6).toFixed(1)

function printTable(report: SoakReport): void {
  const width = Math.max(6, report.peers * 7 - 1)
  console.log(`${'events'.padStart(10)}  ${'RSS MB per peer'.padEnd(width)}  disk MB per peer`)
  for (const s of report.samples) {
    const rss = s.rssBytes.map((b) => mb(b).padStart(6)).join(' ')
    const disk = s.diskBytes.map((b) => mb(b).padStart(6)).join(' ')
    console.log(`${s.events.toLocaleString('en-US').padStart(10)}  ${rss.padEnd(width)}  ${disk}`)
  }
  const per = (value: number | null): string => (value === null ? '-' : value.toFixed(1))
  console.log(
    `${report.peers} peers, ${report.events.toLocaleString('en-US')} events, ${report.blocks.toLocaleString('en-US')} blocks: ${report.agreed ? 'AGREED' : 'NOT AGREED'}; growth per peer (mean), MB per 100,000 events: RSS ${per(slope(report.samples, 'rssBytes'))}, disk ${per(slope(report.samples, 'diskBytes'))}`,
  )
}

export const soakLiveCommand = {
  summary: 'memory and disk of a live section against the events created',
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      peers: { type: 'string' },
      events: { type: 'string' },
      'payload-size': { type: 'string' },
      outstanding: { type: 'string' },
      'block-retention': { type: 'string' },
      'checkpoint-blocks': { type: 'string' },
      'no-epochs': { type: 'boolean' },
      dir: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    for (const name of ['peers', 'events']) {
      if (values[name] === undefined) throw new UsageError(`--${name} is required`)
    }
    const peers = intOption(values, 'peers', 4, 1, 32)
    const events = intOption(values, 'events', 0, 100, 100_000_000)
    const size = intOption(values, 'payload-size', 256, 1, API_LIMITS.maxPayloadBytes)
    const outstanding = intOption(values, 'outstanding', DEFAULT_OUTSTANDING, 0, 100_000_000)
    const retention = blockRetentionOption(values)
    const blockRetention = retention === undefined ? DEFAULT_BLOCK_RETENTION : retention
    if (values['no-epochs'] === true && values['checkpoint-blocks'] !== undefined)
      throw new UsageError('--no-epochs runs without checkpoints: drop --checkpoint-blocks')
    const checkpointBlocks =
      values['no-epochs'] === true
        ? 0
        : intOption(values, 'checkpoint-blocks', DEFAULT_CHECKPOINT_BLOCKS, 1, 100_000_000)
    const json = values.json === true
    const progress = (line: string): void => console.error(line)
    // Within the request body limit (hex doubles the bytes), however large the payloads.
    const batch = Math.max(1, Math.min(BATCH, Math.floor(API_LIMITS.maxBodyBytes / 2 / (2 * size + 4))))

    // Loaded after the arguments are checked: it pulls in libp2p.
    const { LocalSection } = await import('../local-section.js')
    const { diskUsage } = await import('../disk-usage.js')
    const { blocksDigest } = await import('../blocks-digest.js')
    const dir = typeof values.dir === 'string' ? values.dir : undefined
    if (dir !== undefined && (dir === '' || (existsSync(dir) && readdirSync(dir).length > 0)))
      throw new UsageError(`--dir ${JSON.stringify(dir)}: give a new or empty directory`)
    const section = await LocalSection.create({
      peers,
      ...(dir === undefined ? {} : { dir, keepDir: true }),
      startArgs: [
        ...(blockRetention === null ? [] : ['--block-retention', `${blockRetention}`]),
        '--checkpoint-blocks',
        `${checkpointBlocks}`,
      ],
    })
    let interrupted = false
    const onSignal = (): void => {
      if (interrupted) return
      interrupted = true
      console.error('parsec-peer soak-live: interrupted; stopping the peers')
      section.close().finally(() => process.exit(1))
    }
    const onExit = (): void => section.killAllNow()
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    process.on('exit', onExit)

    let voting = false
    const voters: Promise<void>[] = []
    try {
      progress(
        `soak-live: ${peers} peers, ${size}-byte payloads in batches of ${batch}, ${outstanding === 0 ? 'no bound on' : `at most ${outstanding}`} payloads outstanding, until ${events} events; ${blockRetention === null ? 'every block' : `the last ${blockRetention} blocks`} kept`,
      )
      await section.startAll()
      await section.waitConnected(CONNECT_TIMEOUT_MS)
      progress(`all ${peers} peers running and connected`)

      let accepted = 0
      // Blocks every peer delivered, as of the last reading (the payloads no longer outstanding).
      let deliveredEverywhere = 0
      let errors = 0
      let firstError: string | undefined
      voting = true
      const voter = async (peer: number): Promise<void> => {
        while (voting) {
          if (outstanding > 0 && accepted - deliveredEverywhere >= outstanding) {
            await sleep(POLL_MS / 4)
            continue
          }
          try {
            const taken = await section.api(peer).vote(Array.from({ length: batch }, () => randomBytes(size)))
            accepted += taken
          } catch (error) {
            errors++
            firstError ??= `peer ${peer}: ${(error as Error).message}`
            if (errors >= MAX_ERRORS) throw new Error(`${errors} votes failed, the first at ${firstError}`)
            await sleep(500)
          }
        }
      }
      const t0 = Date.now()
      for (const peer of section.peers) voters.push(voter(peer.index))
      // A failed voter ends the run at the next poll rather than leave a rejection unhandled.
      let voterFailure: Error | undefined
      for (const v of voters) v.catch((error: Error) => (voterFailure ??= error))

      const samples: SoakSample[] = []
      const pending = marks(events)
      while (pending.length > 0 && !interrupted) {
        if (voterFailure !== undefined) throw voterFailure
        const statuses = await statusesOf(section)
        const now = Math.max(...statuses.map((s) => s.eventsCreated))
        deliveredEverywhere = Math.min(...statuses.map((s) => s.deliveredBlocks))
        if (now >= pending[0]) {
          const diskBytes = await Promise.all(section.peers.map((peer) => diskUsage(peer.dataDir)))
          const sample = {
            events: now,
            rssBytes: statuses.map((s) => s.memory.rssBytes),
            heapUsedBytes: statuses.map((s) => s.memory.heapUsedBytes),
            diskBytes,
          }
          samples.push(sample)
          while (pending.length > 0 && pending[0] <= now) pending.shift()
          const seconds = (Date.now() - t0) / 1000
          progress(
            `  ${seconds.toFixed(0).padStart(5)} s  ${now} events (${Math.round((100 * now) / events)}%), ${accepted} payloads accepted, blocks delivered ${statuses.map((s) => s.deliveredBlocks).join(' ')}, undecided ${statuses.map((s) => s.pendingObservations).join(' ')}; RSS MB ${sample.rssBytes.map(mb).join(' ')}; disk MB ${diskBytes.map(mb).join(' ')}`,
          )
        } else await sleep(POLL_MS)
      }
      voting = false
      await Promise.all(voters)
      if (interrupted) return 1
      const votedS = (Date.now() - t0) / 1000
      progress(
        `voting stopped after ${votedS.toFixed(1)} s: ${accepted} payloads accepted${errors === 0 ? '' : `, ${errors} POSTs failed (the first at ${firstError})`}`,
      )

      // Until the last votes are decided and delivered everywhere (bounded).
      const deadline = Date.now() + SETTLE_TIMEOUT_MS
      let statuses = await statusesOf(section)
      for (;;) {
        const delivered = statuses.map((s) => s.deliveredBlocks)
        const undecided = statuses.reduce((sum, s) => sum + s.pendingObservations, 0)
        if ((undecided === 0 && delivered.every((n) => n === delivered[0])) || Date.now() >= deadline) break
        await sleep(250)
        statuses = await statusesOf(section)
      }
      const delivered = statuses.map((s) => s.deliveredBlocks)
      const undecided = statuses.map((s) => s.pendingObservations)
      const settled = undecided.every((n) => n === 0)
      if (!settled) {
        // Reported, not hidden: the blocks compared are then only those delivered so far.
        progress(
          `not settled within ${SETTLE_TIMEOUT_MS / 1000} s after the last vote: undecided votes per peer ${undecided.join(' ')}, blocks delivered ${delivered.join(' ')}`,
        )
      }
      // The blocks every peer still keeps (block retention dropped the earlier ones).
      const keptFrom = Math.max(...statuses.map((s) => s.retainedFrom))
      const digests = await Promise.all(
        section.peers.map((peer) => blocksDigest(section.api(peer.index), Math.max(...delivered), keptFrom)),
      )
      const agreed = digests.every((d) => d.blocks === digests[0].blocks && d.sha256 === digests[0].sha256)
      if (!agreed) {
        progress(
          `the peers' blocks differ: ${digests.map((d, i) => `peer ${i} ${d.blocks} blocks ${d.sha256.slice(0, 12)}`).join(', ')}`,
        )
      }
      const report: SoakReport = {
        peers,
        agreed,
        events: Math.max(...statuses.map((s) => s.eventsCreated)),
        blocks: Math.min(...digests.map((d) => d.blocks)),
        samples,
      }
      progress(`blocks compared after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
      if (json) console.log(JSON.stringify(report))
      else printTable(report)
      return agreed && settled ? 0 : 1
    } catch (error) {
      if (interrupted) return 1
      console.error(`parsec-peer soak-live: ${(error as Error).message}`)
      return 1
    } finally {
      voting = false
      await Promise.allSettled(voters)
      if (!interrupted) await section.close()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      process.off('exit', onExit)
    }
  },
}
