/**
 * Fork-aware ancestry (spec §4). Each event keeps, per creator, the highest `index_by_creator` it
 * descends from (its `last` row, indexed by peer, -1 = none) and, only where forks exist, which
 * fork indices it has seen at which creator indices. Without forks every relation below is one
 * array read.
 */
import type { RowArena } from './columns.js'

/** creator -> index_by_creator -> sorted set of fork indices. Absent when no fork is in the past. */
export type ForkMap = ReadonlyMap<number, ReadonlyMap<number, readonly number[]>>

export interface Ancestry {
  /**
   * The `last` row is `rows[row]` to `rows[row + width - 1]` (rows of many events share one
   * array: a typed array per event would cost more than its data).
   */
  readonly rows: Int32Array
  readonly row: number
  /** Peers known when the event was inserted; creators at or above it are not in its past. */
  readonly width: number
  readonly forks: ForkMap | null
}

/** The highest `index_by_creator` of `creator` in `x`'s past, -1 if none. */
export function lastOf(x: Ancestry, creator: number): number {
  return creator < x.width ? x.rows[x.row + creator] : -1
}

export interface AncestryNode extends Ancestry {
  readonly creator: number
  readonly indexByCreator: number
}

function union(a: readonly number[], b: readonly number[]): readonly number[] {
  if (a === b) return a
  const out = [...a]
  for (const x of b) if (!out.includes(x)) out.push(x)
  return out.sort((x, y) => x - y)
}

function withZero(set: readonly number[]): readonly number[] {
  return set.includes(0) ? set : [0, ...set]
}

type ForkSets = ReadonlyMap<number, readonly number[]>

function mergeForkSets(fa: ForkSets | undefined, la: number, fb: ForkSets | undefined, lb: number): ForkSets {
  const out = new Map<number, readonly number[]>()
  if (fa) {
    for (const [k, set] of fa) {
      const other = fb?.get(k)
      if (other !== undefined) out.set(k, union(set, other))
      else out.set(k, lb >= k ? withZero(set) : set)
    }
  }
  if (fb) {
    for (const [k, set] of fb) {
      if (fa?.has(k)) continue
      out.set(k, la >= k ? withZero(set) : set)
    }
  }
  return out
}

/** Spec §4.1, steps 1-3. */
export function computeAncestry(
  peerCount: number,
  creator: number,
  indexByCreator: number,
  forkIndex: number,
  selfParent: Ancestry | undefined,
  otherParent: Ancestry | undefined,
  /** Where the `last` row goes (an array of its own without one). */
  arena?: RowArena,
): Ancestry {
  const width = Math.max(peerCount, creator + 1)
  const row = arena === undefined ? 0 : arena.reserve(width)
  const rows = arena === undefined ? new Int32Array(width) : arena.rows
  rows.fill(-1, row, row + width)
  if (selfParent) {
    const from = selfParent.rows
    const at = selfParent.row
    for (let p = 0; p < selfParent.width; p++) rows[row + p] = from[at + p]
  }
  if (otherParent) {
    const from = otherParent.rows
    const at = otherParent.row
    for (let p = 0; p < otherParent.width; p++) if (from[at + p] > rows[row + p]) rows[row + p] = from[at + p]
  }
  let forks: Map<number, ForkSets> | null = null
  const sf = selfParent?.forks ?? null
  const of = otherParent?.forks ?? null
  if (sf !== null || of !== null) {
    forks = new Map()
    const lastIn = (x: Ancestry | undefined, c: number) => (x === undefined ? -1 : lastOf(x, c))
    const creators = new Set<number>([...(sf?.keys() ?? []), ...(of?.keys() ?? [])])
    for (const c of creators) {
      const la = lastIn(selfParent, c)
      const lb = lastIn(otherParent, c)
      const fa = sf?.get(c)
      const fb = of?.get(c)
      let merged: ForkSets
      if (la < 0) merged = fb ?? new Map()
      else if (lb < 0) merged = fa ?? new Map()
      else merged = mergeForkSets(fa, la, fb, lb)
      if (merged.size > 0) forks.set(c, merged)
    }
  }
  rows[row + creator] = indexByCreator
  if (forkIndex > 0) {
    forks ??= new Map()
    const own = new Map(forks.get(creator) ?? [])
    own.set(indexByCreator, [forkIndex])
    forks.set(creator, own)
  }
  return { rows, row, width, forks: forks !== null && forks.size > 0 ? forks : null }
}

function forkSetOf(y: AncestryNode): readonly number[] | undefined {
  return y.forks?.get(y.creator)?.get(y.indexByCreator)
}

/** `isDescendantOf(x, y)`, reflexive (spec §4.2). */
export function isDescendant(x: Ancestry, y: AncestryNode): boolean {
  const c = y.creator
  if (lastOf(x, c) < y.indexByCreator) return false
  if (x.forks === null && y.forks === null) return true
  const fy = forkSetOf(y)
  const fx = x.forks?.get(c)?.get(y.indexByCreator)
  if (fx !== undefined) return fy !== undefined ? fx.some((i) => fy.includes(i)) : fx.includes(0)
  return fy !== undefined ? fy.includes(0) : true
}

/** `x` has both sides of some fork by `creator` among its ancestors (spec §4.3). */
export function descendsFromFork(x: Ancestry, creator: number): boolean {
  const sets = x.forks?.get(creator)
  if (sets === undefined) return false
  for (const set of sets.values()) if (set.length >= 2) return true
  return false
}

/** The lowest `index_by_creator` at which `x` knows `creator` forked (Infinity if none). */
export function lowestKnownFork(x: Ancestry, creator: number): number {
  const sets = x.forks?.get(creator)
  let lowest = Number.POSITIVE_INFINITY
  if (sets === undefined) return lowest
  for (const [index, set] of sets) if (set.length >= 2 && index < lowest) lowest = index
  return lowest
}

/**
 * `sees(x, y)`: x descends from y and y is not made ambiguous by a fork x knows of (spec §4.3).
 * `forkBlind` (the reference's rule): any known fork of y's creator hides all its events, so a
 * forker's whole history becomes invisible (spec §15). Otherwise only events at or after the
 * fork are hidden; its common history below the fork stays seen (nothing equivocal there).
 */
export function sees(x: Ancestry, y: AncestryNode, forkBlind = true): boolean {
  if (x.forks !== null) {
    if (forkBlind ? descendsFromFork(x, y.creator) : lowestKnownFork(x, y.creator) <= y.indexByCreator)
      return false
  }
  return isDescendant(x, y)
}

/**
 * The highest `index_by_creator` of `creator`'s chain that `x` sees (-1: none): its last ancestor
 * of that creator, or (outside the fork-blind rule) the last one below a fork `x` knows of.
 */
export function seenLast(x: Ancestry, creator: number, forkBlind: boolean): number {
  const j = lastOf(x, creator)
  if (j < 0 || x.forks === null) return j
  if (forkBlind) return descendsFromFork(x, creator) ? -1 : j
  return Math.min(j, lowestKnownFork(x, creator) - 1)
}
