/**
 * The service's metrics in libp2p's metrics component (a Prometheus registry when the node was
 * made with `@libp2p/prometheus-metrics`; nothing without one), named `parsec_section_*`. Gauges
 * and totals the status already holds are read when scraped, so they cost nothing in between; the
 * vote-to-block latency of our own votes is observed as blocks are delivered. The counters the
 * reporter keeps (faults and link errors, also by code; exchanges; blocks) are in reporter.ts.
 */
import type { Histogram, Metrics } from '@libp2p/interface'
import type { DeliveredBlock, SectionStatus } from './api.js'
import { payloadKey } from './own-votes.js'

/** Votes of ours waiting for their block, at most (the oldest forgotten first). */
const MAX_WAITING_VOTES = 10_000
/** A scrape reads every gauge: one status serves them all within this time. */
const STATUS_REUSE_MS = 200
/** Seconds from our vote to its block delivered here. */
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

export interface MetricSources {
  status(): SectionStatus
  /** Events of ours in the graph (the rest were received). */
  ownEvents(): number
}

export class SectionMetrics {
  private latency: Histogram | undefined
  /** Our votes not delivered yet: payload (`payloadKey`) → when we voted it. */
  private readonly votedAt = new Map<string, number>()
  private cached: { at: number; status: SectionStatus } | undefined

  constructor(
    private readonly components: { metrics?: Metrics },
    private readonly sources: MetricSources,
  ) {}

  /** Registers the metrics (once: libp2p's registry refuses a name twice). */
  start(): void {
    const metrics = this.components.metrics
    if (metrics === undefined || this.latency !== undefined) return
    const status = (): SectionStatus => {
      const now = Date.now()
      if (this.cached === undefined || now - this.cached.at > STATUS_REUSE_MS) {
        this.cached = { at: now, status: this.sources.status() }
      }
      return this.cached.status
    }
    const gauge = (name: string, help: string, read: (s: SectionStatus) => number): void =>
      metrics.registerMetric(`parsec_section_${name}`, { help, calculate: () => read(status()) })
    const total = (name: string, help: string, read: () => number): void =>
      metrics.registerCounter(`parsec_section_${name}_total`, { help, calculate: read })
    gauge('graph_events', 'events in the gossip graph', (s) => s.graphSize)
    gauge('delivered_blocks', 'blocks delivered to the application', (s) => s.deliveredBlocks)
    gauge('decided_blocks', 'blocks the engine decided', (s) => s.decidedBlocks)
    gauge(
      'pending_observations',
      'observations carried by an event and not decided yet',
      (s) => s.pendingObservations,
    )
    gauge('members', 'the agreed voters', (s) => s.members.length)
    gauge('connected_members', 'members we hold a connection to', (s) => s.connected.length)
    gauge('gossip_rate', 'gossip exchanges we started per second, over the last 10 s', (s) => s.gossipRate)
    gauge('banned_peers', 'peers banned now', (s) => s.banned.length)
    total('events_created', 'events we created', () => this.sources.ownEvents())
    total('events_received', 'events of others added to our graph', () =>
      Math.max(0, status().graphSize - this.sources.ownEvents()),
    )
    total('verifications', 'signature verifications', () => status().verifications.count)
    total(
      'verification_seconds',
      'time spent verifying signatures',
      () => status().verifications.totalMs / 1000,
    )
    this.latency = metrics.registerHistogram('parsec_section_vote_to_block_seconds', {
      help: 'from our vote to its block delivered here',
      buckets: LATENCY_BUCKETS,
    })
  }

  /** We voted `payload` (an opaque payload) now. */
  voted(payload: Uint8Array, now: number): void {
    if (this.latency === undefined) return
    if (this.votedAt.size >= MAX_WAITING_VOTES) {
      const oldest = this.votedAt.keys().next().value
      if (oldest !== undefined) this.votedAt.delete(oldest)
    }
    this.votedAt.set(payloadKey(payload), now)
  }

  /** Blocks delivered now: our votes among them are observed. */
  delivered(blocks: readonly DeliveredBlock[], now: number): void {
    if (this.latency === undefined || this.votedAt.size === 0) return
    for (const { block } of blocks) {
      if (block.payload.kind !== 'opaque') continue
      const key = payloadKey(block.payload.payload)
      const at = this.votedAt.get(key)
      if (at === undefined) continue
      this.votedAt.delete(key)
      this.latency.observe((now - at) / 1000)
    }
  }
}
