/**
 * Binary agreement per (event, voter): meta-votes and the exact update rules of spec §6.7.
 * Bool sets are 2-bit masks (TRUE=1, FALSE=2) so counting is integer work.
 */
import { supermajority } from '../quorum.js'

export const TRUE = 1
export const FALSE = 2
export const BOTH = 3

export const STEP_FORCED_TRUE = 0
export const STEP_FORCED_FALSE = 1
export const STEP_GENUINE_FLIP = 2

// A vote's contribution to the counters that the rules read (est and aux; bin counts are never
// read), packed as 13-bit fields of one number (exact below 2^53, up to 8191 voters), so counting
// a stage across many voters' lists is one sum.
const EST_T = 1
const EST_F = 2 ** 13
const AUX_T = 2 ** 26
const AUX_F = 2 ** 39
const FIELD = 2 ** 13
const INV_AUX_T = 2 ** -26
/** Most voters the packed counters can count. */
export const MAX_VOTERS = FIELD - 1

function contributionOf(est: number, aux: number, decided: number): number {
  if (decided === TRUE) return EST_T + AUX_T
  if (decided === FALSE) return EST_F + AUX_F
  return (
    (est & TRUE ? EST_T : 0) + (est & FALSE ? EST_F : 0) + (aux === TRUE ? AUX_T : aux === FALSE ? AUX_F : 0)
  )
}

/** A meta-vote; `decided` is TRUE/FALSE once decided (then est/bin/aux are irrelevant), else 0. */
export class MetaVote {
  readonly contribution: number

  constructor(
    readonly round: number,
    readonly step: number,
    readonly est: number,
    readonly bin: number,
    /** 0 = none, else TRUE or FALSE. */
    readonly aux: number,
    readonly decided: number,
  ) {
    this.contribution = contributionOf(est, aux, decided)
  }

  toString(): string {
    if (this.decided) return `${this.round}/${this.step} D${this.decided === TRUE ? 't' : 'f'}`
    return `${this.round}/${this.step} e${bits(this.est)} b${bits(this.bin)} a${bits(this.aux)}`
  }
}

function bits(mask: number): string {
  return mask === BOTH ? 'b' : mask === TRUE ? 't' : mask === FALSE ? 'f' : '-'
}

/**
 * The coin for a round, or undefined when none is available at this point (spec §6.7, §16).
 * `round` is the round of the meta-vote the value goes to, `flipRound` the round whose step 2 is
 * being left (`round - 1` for a new round's empty estimate, `round` for an advance out of step 2).
 */
export type RoundCoin = (round: number, flipRound: number) => boolean | undefined

const NO_COIN: RoundCoin = () => undefined

function third(x: number, n: number): boolean {
  return 3 * x >= n
}

/**
 * What the other voters' meta-votes contribute at each stage (stage = round * 3 + step) for one
 * voter-under-vote: `sums[offset + stage]` is the packed sum of their entries at that stage,
 * `decisions[offset + stage]` the first decided value among them in list order (0 if none).
 */
export interface StageView {
  readonly sums: Float64Array
  readonly decisions: Uint8Array
  offset: number
  readonly stages: number
}

export const EMPTY_VIEW: StageView = {
  sums: new Float64Array(0),
  decisions: new Uint8Array(0),
  offset: 0,
  stages: 0,
}

// One scratch counter set: counts() fills it, update()/advance() consume it before the next counts().
let estT = 0
let estF = 0
let auxT = 0
let auxF = 0
let decision = 0

/** `counts(v, view)`: the other lists' entries at v's (round, step), then v itself (spec §6.7). */
function counts(v: MetaVote, view: StageView): void {
  const stage = v.round * 3 + v.step
  let total = v.contribution
  decision = 0
  if (stage < view.stages) {
    total += view.sums[view.offset + stage]
    decision = view.decisions[view.offset + stage]
  }
  if (decision === 0) decision = v.decided
  // Split at bit 26 (multiplying by a power of two is exact), then each half is 32-bit work.
  const aux = Math.floor(total * INV_AUX_T)
  const est = total - aux * AUX_T
  estT = est & (FIELD - 1)
  estF = est >>> 13
  auxT = aux & (FIELD - 1)
  auxF = aux >>> 13
}

function update(v: MetaVote, coins: RoundCoin, n: number): MetaVote {
  if (v.decided) return v
  let est = v.est
  if (est === 0) {
    const coin = coins(v.round, v.round - 1)
    if (coin !== undefined) {
      est = coin ? TRUE : FALSE
      if (coin) estT++
      else estF++
    }
  } else {
    if (third(estT, n) && !(est & TRUE)) {
      est |= TRUE
      estT++
    }
    if (third(estF, n) && !(est & FALSE)) {
      est |= FALSE
      estF++
    }
  }
  const binBefore = v.bin
  let bin = binBefore
  if (supermajority(n, estT)) bin |= TRUE
  if (supermajority(n, estF)) bin |= FALSE
  let aux = v.aux
  if (aux === 0 && binBefore === 0) {
    if (bin === TRUE || bin === BOTH) {
      aux = TRUE
      auxT++
    } else if (bin === FALSE) {
      aux = FALSE
      auxF++
    }
  }
  let decided = 0
  if (v.step === STEP_FORCED_TRUE) decided = bin & TRUE && supermajority(n, auxT) ? TRUE : decision
  else if (v.step === STEP_FORCED_FALSE) decided = bin & FALSE && supermajority(n, auxF) ? FALSE : decision
  else decided = decision
  if (est === v.est && bin === v.bin && aux === v.aux && decided === 0) return v
  return new MetaVote(v.round, v.step, est, bin, aux, decided)
}

function advance(p: MetaVote, coins: RoundCoin, n: number): MetaVote {
  let est: number
  if (p.step === STEP_FORCED_TRUE) est = supermajority(n, auxF) ? FALSE : TRUE
  else if (p.step === STEP_FORCED_FALSE) est = supermajority(n, auxT) ? TRUE : FALSE
  else if (supermajority(n, auxT)) est = TRUE
  else if (supermajority(n, auxF)) est = FALSE
  else {
    const coin = coins(p.round, p.round)
    est = coin === undefined ? 0 : coin ? TRUE : FALSE
  }
  if (p.step === STEP_GENUINE_FLIP) return new MetaVote(p.round + 1, STEP_FORCED_TRUE, est, 0, 0, 0)
  return new MetaVote(p.round, p.step + 1, est, 0, 0, 0)
}

/**
 * `nextVotes(prev, lists, coins, N)` of spec §6.7. Returns `prev` itself when nothing changed, so
 * unchanged lists are shared rather than copied.
 */
export function nextVotes(
  prev: readonly MetaVote[],
  view: StageView,
  coins: RoundCoin,
  n: number,
): readonly MetaVote[] {
  let out: MetaVote[] | null = null
  let length = 0
  for (let i = 0; i < prev.length; i++) {
    const v = prev[i]
    if (!v.decided) counts(v, view)
    const next = update(v, coins, n)
    if (out === null && next !== v) out = prev.slice(0, i)
    if (out !== null) out.push(next)
    length = i + 1
    if (v.decided) break
  }
  let last = out === null ? prev[length - 1] : out[length - 1]
  for (;;) {
    if (last.decided) break
    counts(last, view)
    if (!supermajority(n, auxT + auxF)) break
    const next = advance(last, coins, n)
    counts(next, view)
    last = update(next, coins, n)
    if (out === null) out = prev.slice(0, length)
    out.push(last)
  }
  if (out === null) return length === prev.length ? prev : prev.slice(0, length)
  return out
}

/**
 * The coin pass after the temp pass (spec §6.6: `nextVotes(temp, [], coins, N)`). With no other
 * lists and N >= 2 it can only give a coin estimate to entries whose estimate is empty, so it is
 * skipped when there are none.
 */
export function coinPass(temp: readonly MetaVote[], coins: RoundCoin, n: number): readonly MetaVote[] {
  if (!needsCoin(temp, n)) return temp
  return nextVotes(temp, EMPTY_VIEW, coins, n)
}

/** Whether the coin pass can change `temp` (see coinPass). */
export function needsCoin(temp: readonly MetaVote[], n: number): boolean {
  if (n < 2) return true
  for (let i = 0; i < temp.length; i++) if (temp[i].est === 0 && !temp[i].decided) return true
  return false
}

export function initialVotes(observee: boolean, view: StageView, n: number): readonly MetaVote[] {
  return nextVotes([new MetaVote(0, STEP_FORCED_TRUE, observee ? TRUE : FALSE, 0, 0, 0)], view, NO_COIN, n)
}

export { NO_COIN }
