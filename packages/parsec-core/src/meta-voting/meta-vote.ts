/**
 * Binary agreement per (event, voter): meta-votes and the exact update rules of spec §6.7.
 * Bool sets are 2-bit masks (TRUE=1, FALSE=2) so counting is integer work.
 */
export const TRUE = 1
export const FALSE = 2
export const BOTH = 3

export const STEP_FORCED_TRUE = 0
export const STEP_FORCED_FALSE = 1
export const STEP_GENUINE_FLIP = 2

/** A meta-vote; `decided` is TRUE/FALSE once decided (then est/bin/aux are irrelevant), else 0. */
export class MetaVote {
  constructor(
    readonly round: number,
    readonly step: number,
    readonly est: number,
    readonly bin: number,
    /** 0 = none, else TRUE or FALSE. */
    readonly aux: number,
    readonly decided: number,
  ) {}

  toString(): string {
    if (this.decided) return `${this.round}/${this.step} D${this.decided === TRUE ? 't' : 'f'}`
    return `${this.round}/${this.step} e${bits(this.est)} b${bits(this.bin)} a${bits(this.aux)}`
  }
}

function bits(mask: number): string {
  return mask === BOTH ? 'b' : mask === TRUE ? 't' : mask === FALSE ? 'f' : '-'
}

/** The coin for a round, or undefined when none is available at this point (spec §6.7, §16). */
export type RoundCoin = (round: number) => boolean | undefined

const NO_COIN: RoundCoin = () => undefined

/** Supermajority: 3x > 2N. */
export function supermajority(x: number, n: number): boolean {
  return 3 * x > 2 * n
}

function third(x: number, n: number): boolean {
  return 3 * x >= n
}

// One scratch counter set: counts() fills it, update()/advance() consume it before the next counts().
let estT = 0
let estF = 0
let binT = 0
let binF = 0
let auxT = 0
let auxF = 0
let decision = 0

function add(v: MetaVote): void {
  if (v.decided) {
    if (v.decided === TRUE) {
      estT++
      binT++
      auxT++
    } else {
      estF++
      binF++
      auxF++
    }
    if (decision === 0) decision = v.decided
    return
  }
  if (v.est & TRUE) estT++
  if (v.est & FALSE) estF++
  if (v.bin & TRUE) binT++
  if (v.bin & FALSE) binF++
  if (v.aux === TRUE) auxT++
  else if (v.aux === FALSE) auxF++
}

/** `counts(v, lists)`: each list's last entry at v's (round, step), then v itself. */
function counts(v: MetaVote, lists: readonly (readonly MetaVote[])[]): void {
  estT = estF = binT = binF = auxT = auxF = decision = 0
  for (let i = 0; i < lists.length; i++) {
    const list = lists[i]
    for (let k = list.length - 1; k >= 0; k--) {
      const x = list[k]
      if (x.round === v.round && x.step === v.step) {
        add(x)
        break
      }
    }
  }
  add(v)
}

function update(v: MetaVote, coin: boolean | undefined, n: number): MetaVote {
  if (v.decided) return v
  let est = v.est
  if (est === 0) {
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
  if (supermajority(estT, n) && !(bin & TRUE)) {
    bin |= TRUE
    binT++
  }
  if (supermajority(estF, n) && !(bin & FALSE)) {
    bin |= FALSE
    binF++
  }
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
  if (v.step === STEP_FORCED_TRUE) decided = bin & TRUE && supermajority(auxT, n) ? TRUE : decision
  else if (v.step === STEP_FORCED_FALSE) decided = bin & FALSE && supermajority(auxF, n) ? FALSE : decision
  else decided = decision
  return new MetaVote(v.round, v.step, est, bin, aux, decided)
}

function advance(p: MetaVote, coin: boolean | undefined, n: number): MetaVote {
  let est: number
  if (p.step === STEP_FORCED_TRUE) est = supermajority(auxF, n) ? FALSE : TRUE
  else if (p.step === STEP_FORCED_FALSE) est = supermajority(auxT, n) ? TRUE : FALSE
  else if (supermajority(auxT, n)) est = TRUE
  else if (supermajority(auxF, n)) est = FALSE
  else est = coin === undefined ? 0 : coin ? TRUE : FALSE
  if (p.step === STEP_GENUINE_FLIP) return new MetaVote(p.round + 1, STEP_FORCED_TRUE, est, 0, 0, 0)
  return new MetaVote(p.round, p.step + 1, est, 0, 0, 0)
}

/** `nextVotes(prev, lists, coins, N)` of spec §6.7. */
export function nextVotes(
  prev: readonly MetaVote[],
  lists: readonly (readonly MetaVote[])[],
  coins: RoundCoin,
  n: number,
): MetaVote[] {
  const out: MetaVote[] = []
  for (const v of prev) {
    counts(v, lists)
    out.push(update(v, coins(v.round), n))
    if (v.decided) break
  }
  for (;;) {
    const last = out[out.length - 1]
    if (last.decided) break
    counts(last, lists)
    if (!supermajority(auxT + auxF, n)) break
    const next = advance(last, coins(last.round), n)
    counts(next, lists)
    out.push(update(next, coins(next.round), n))
  }
  return out
}

export function initialVotes(observee: boolean, lists: readonly (readonly MetaVote[])[], n: number): MetaVote[] {
  return nextVotes([new MetaVote(0, STEP_FORCED_TRUE, observee ? TRUE : FALSE, 0, 0, 0)], lists, NO_COIN, n)
}

export { NO_COIN }
