/**
 * Where the service is (`SectionState`), the engine it runs once started, and how it fails: a
 * failed service makes no more events (they could fork us or depend on what was not stored),
 * refuses votes and rejects `ready()`, for good.
 */
import type { Logger, PeerId } from '@libp2p/interface'
import type { Parsec } from '@parsec-section/parsec-core'
import { isSectionError, SectionError } from '../errors.js'
import type { SectionState } from './api.js'
import type { Reporter } from './reporter.js'

/** A promise with its settle functions (Node 20 has no `Promise.withResolvers`). */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve: () => void = () => {}
  let reject: (error: Error) => void = () => {}
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

export class Lifecycle {
  /** Between the service's `start()` and `stop()`. */
  started = false
  state: SectionState = 'stopped'
  failure: SectionError | undefined
  /** The engine, restored from the store by `start()`. */
  engine: Parsec | undefined
  private readonly readiness = deferred()

  /** @param onFail - stops what makes events (gossip) when the service fails */
  constructor(
    private readonly reporter: Reporter,
    private readonly log: Logger,
    private readonly onFail: () => void,
  ) {
    // Nobody may be left with an unhandled rejection when no caller awaits ready().
    this.readiness.promise.catch(() => {})
  }

  ready(): Promise<void> {
    return this.readiness.promise
  }

  /** The start-up is done: the service runs. */
  resolveReady(): void {
    this.readiness.resolve()
  }

  /** The service stopped: `ready()` rejects (if it had not settled). */
  stopped(): void {
    if (this.state !== 'failed') this.state = 'stopped'
    this.readiness.reject(new SectionError('NotStarted', 'the section service stopped'))
  }

  /** The engine of a started service that has not failed. */
  requireEngine(): Parsec {
    if (this.failure !== undefined) throw this.failure
    if (this.engine === undefined || !this.started)
      throw new SectionError('NotStarted', 'the section service is not started')
    return this.engine
  }

  /** Stops making events for good: gossip stops, votes are refused, `ready()` rejects. */
  fail(error: SectionError): void {
    if (this.failure !== undefined) return
    this.failure = error
    this.state = 'failed'
    this.onFail()
    this.log.error('section failed: %s', error.message)
    this.readiness.reject(error)
    this.reporter.emit('failed', error)
  }

  /** Someone holds an event of ours we do not: making more would fork us. */
  failOnOwnEvent(peerId: PeerId, error: unknown): void {
    this.fail(
      new SectionError(
        'SelfCheckFailed',
        `member ${peerId.toString()} sent an event of ours that our store does not hold ` +
          `(${(error as Error).message}): this data directory is behind this key's last run, or ` +
          'another process runs with this key. No more events are made (they would fork us). Start ' +
          'with the right data directory (or stop the other process); a member whose store is lost ' +
          'can only leave and join again under a new key (once membership lands).',
      ),
    )
  }

  /**
   * Persisting failed: stop creating events for good (the unstored ones are never sent, so a
   * restart with a working store resumes our chain without a fork) and report it once.
   */
  failStore(error: unknown): SectionError {
    if (this.failure !== undefined) return this.failure
    const cause = error instanceof Error ? error : new Error(String(error))
    const code = (cause as { code?: unknown }).code
    const failure =
      isSectionError(cause) && cause.code === 'StorageFailed'
        ? cause
        : new SectionError(
            'StorageFailed',
            `writing to the store failed (${typeof code === 'string' ? `${code}: ` : ''}${cause.message}); ` +
              'no more events are created: fix the cause (e.g. free disk space) and restart the peer',
            { cause },
          )
    this.fail(failure)
    return failure
  }
}
