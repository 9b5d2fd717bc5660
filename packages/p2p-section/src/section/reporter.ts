/**
 * What the service tells the outside: its typed events (a listener that throws is logged and
 * never breaks the service), the faults and link errors it reports and counts, and its metrics.
 */
import type {
  Counter,
  CounterGroup,
  Logger,
  Metrics,
  PeerId,
  Startable,
  TypedEventEmitter,
} from '@libp2p/interface'
import type { FaultKind as MembershipFaultKind } from '@parsec-section/membership'
import type { Fault } from '@parsec-section/parsec-core'
import { type LinkErrorCode, toError } from '../errors.js'
import type { ParsecSectionEvents } from './api.js'
import { classify, type Failure } from './failure.js'
import { engineFault, isMessageFaultCode, type MessageFaultCode, type SectionFault } from './fault.js'

/** The detail an event of the service carries. */
export type EventDetail<K extends keyof ParsecSectionEvents> =
  ParsecSectionEvents[K] extends CustomEvent<infer D> ? D : never

type CounterName = 'faults' | 'linkErrors' | 'exchanges' | 'blocks'

export class Reporter implements Startable {
  /** `fault` events so far (provably bad input). */
  faults = 0
  /** `link:error` events so far (broken links: not faults). */
  linkErrors = 0
  private readonly counters: Partial<Record<CounterName, Counter>> = {}
  private readonly byCode: { faults?: CounterGroup; linkErrors?: CounterGroup } = {}
  private started = false

  constructor(
    private readonly target: TypedEventEmitter<ParsecSectionEvents>,
    private readonly components: { metrics?: Metrics },
    private readonly log: Logger,
  ) {}

  isStarted(): boolean {
    return this.started
  }

  start(): void {
    const metrics = this.components.metrics
    if (metrics !== undefined) {
      this.counters.faults = metrics.registerCounter('parsec_section_faults_total')
      this.counters.linkErrors = metrics.registerCounter('parsec_section_link_errors_total')
      this.counters.exchanges = metrics.registerCounter('parsec_section_exchanges_total')
      this.counters.blocks = metrics.registerCounter('parsec_section_blocks_total')
      this.byCode.faults = metrics.registerCounterGroup('parsec_section_faults_by_code_total', {
        label: 'code',
        help: 'faults (provably bad input) by code',
      })
      this.byCode.linkErrors = metrics.registerCounterGroup('parsec_section_link_errors_by_code_total', {
        label: 'code',
        help: 'broken links (not faults) by code',
      })
    }
    this.started = true
  }

  stop(): void {
    this.started = false
  }

  emit<K extends keyof ParsecSectionEvents>(type: K, detail: EventDetail<K>): void {
    try {
      this.target.safeDispatchEvent(type, { detail })
    } catch (error) {
      this.log.error('a %s listener threw: %e', type, error)
    }
  }

  /** One more exchange done or block delivered, for the metrics. */
  count(name: 'exchanges' | 'blocks'): void {
    this.counters[name]?.increment()
  }

  /** A message or stream of `peer`'s that is itself bad (before the engine saw it). */
  fault(peer: PeerId, code: MessageFaultCode, message: string): void {
    this.report({ kind: 'protocol', evidence: 'message', code, peer, offender: peer, message })
  }

  /** A membership message of `peer`'s that the membership machine refused. */
  membershipFault(peer: PeerId, code: MembershipFaultKind, message: string): void {
    this.report({ kind: 'protocol', evidence: 'membership', code, peer, offender: peer, message })
  }

  /**
   * The engine's faults in what `from` sent us, each blamed on the offender the engine names (a
   * relayed event's creator for malice). `from` undefined: input of the offenders' own.
   */
  engineFaults(faults: readonly Fault[], from: PeerId | undefined): void {
    for (const fault of faults) this.report(engineFault(fault, from))
  }

  /**
   * A failed exchange's bad input from `peer`: the engine's faults with their own offenders, and
   * the failure itself as `peer`'s unless one of those already names `peer`.
   */
  protocolFault(peer: PeerId, failure: Extract<Failure, { kind: 'protocol' }>): void {
    const found = failure.faults.map((fault) => engineFault(fault, peer))
    for (const fault of found) this.report(fault)
    if (found.some((fault) => fault.offender.equals(peer))) return
    const { code, message } = failure
    if (isMessageFaultCode(code)) this.fault(peer, code, message)
    else this.report({ kind: 'protocol', evidence: 'rejected', code, peer, offender: peer, message })
  }

  /**
   * A request of ours to `peer` outside gossip failed (a snapshot, a decided lookup): a fault when
   * its answer broke the protocol, a link error when the link did.
   */
  requestFailed(peer: PeerId, error: unknown, what: string): void {
    const failure = classify(toError(error), undefined, undefined, false)
    if (failure.kind === 'protocol') this.protocolFault(peer, failure)
    else if (failure.kind === 'transport')
      this.linkError(peer, 'outbound', failure.code, `${what}: ${failure.message}`)
  }

  private report(fault: SectionFault): void {
    this.faults++
    this.counters.faults?.increment()
    this.byCode.faults?.increment({ [fault.code]: true })
    this.log('fault by %p (from %p): %s %s', fault.offender, fault.peer, fault.code, fault.message)
    this.emit('fault', fault)
  }

  /** A broken link with `peer`: not a fault. */
  linkError(
    peer: PeerId,
    direction: 'inbound' | 'outbound',
    code: LinkErrorCode,
    message: string,
    retryInMs?: number,
  ): void {
    this.linkErrors++
    this.counters.linkErrors?.increment()
    this.byCode.linkErrors?.increment({ [code]: true })
    this.log('link error with %p (%s): %s %s', peer, direction, code, message)
    this.emit('link:error', {
      peer,
      kind: 'transport',
      code,
      message,
      direction,
      ...(retryInMs === undefined ? {} : { retryInMs }),
    })
  }
}
