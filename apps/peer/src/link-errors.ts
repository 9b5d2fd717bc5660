/**
 * Which link errors the peer prints. At start-up the members dial each other before all of them
 * listen, so every peer not reached yet fails a few times (ECONNREFUSED): one line says so, then
 * it stays quiet until the peer has been connected once. After that, a repeat of the same error
 * for the same peer within `REPEAT_WINDOW_MS` is counted, not printed, and the next printed line
 * says how many were held back.
 */

/** Repeats of one (peer, code) within this window are counted instead of printed. */
export const REPEAT_WINDOW_MS = 30_000

interface PeerLinks {
  reached: boolean
  code: string | undefined
  printedAt: number
  heldBack: number
}

export class LinkErrors {
  private readonly peers = new Map<string, PeerLinks>()

  /** The peer was connected: from now on its errors are printed (repeats held back). */
  connected(peer: string): void {
    const entry = this.entry(peer)
    entry.reached = true
  }

  reached(peer: string): boolean {
    return this.peers.get(peer)?.reached === true
  }

  /**
   * An error with `peer`: undefined when it is not printed, else how many errors were held back
   * since the last printed line.
   */
  report(peer: string, code: string, now: number): number | undefined {
    const entry = this.entry(peer)
    const printedBefore = entry.code !== undefined
    const same = entry.code === code && now - entry.printedAt < REPEAT_WINDOW_MS
    if ((!entry.reached && printedBefore) || same) {
      entry.heldBack++
      return undefined
    }
    const heldBack = entry.heldBack
    entry.code = code
    entry.printedAt = now
    entry.heldBack = 0
    return heldBack
  }

  private entry(peer: string): PeerLinks {
    let entry = this.peers.get(peer)
    if (entry === undefined) {
      entry = { reached: false, code: undefined, printedAt: 0, heldBack: 0 }
      this.peers.set(peer, entry)
    }
    return entry
  }
}
