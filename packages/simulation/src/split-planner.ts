/**
 * Plans, on the adversary's `VoteModel`, how to keep one voter-under-vote's binary agreement from
 * ever deciding when the coin is predictable (spec §6.7 with the parity coin, §15 "no liveness
 * against an adaptive scheduler").
 *
 * The plan goes stage by stage (stage = 3·round + step). Entering a stage the peers' estimates are
 * split two against two (three against one collapses: the lone value can never gather a
 * supermajority). Within the stage the adversary chooses who sees what when so that three peers
 * set their aux value to Y and one to ¬Y, where Y is the value that decides nothing at this step
 * (step 0 decides true, so Y = false; step 1 decides false, so Y = true; at step 2 Y is the
 * opposite of the coin, which it knows). Then each peer leaves the stage seeing either all three Y
 * auxes (a supermajority: it takes Y) or the ¬Y one among its first three (no supermajority: it
 * takes ¬Y, or the coin, which is ¬Y too): two peers each way, so the next stage is split again.
 * The roles (who sets ¬Y, who takes Y) are searched for, best-first over the peers' deliveries.
 */
import { FALSE, type MetaVote, TRUE } from '@parsec-section/parsec-core/internal'
import type { VoteModel } from './vote-model.js'

/** A delivery in the plan: `to` makes an event seeing the latest event of `from`. */
export interface Delivery {
  readonly to: number
  readonly from: number
}

export interface StageRoles {
  /** Per peer: the aux value it must set at the stage (TRUE or FALSE). */
  readonly aux: readonly number[]
  /** Per peer: the estimate it must take into the next stage. */
  readonly next: readonly number[]
}

export interface StagePlan {
  readonly stage: number
  readonly roles: StageRoles
  readonly deliveries: readonly Delivery[]
}

export interface PlanOptions {
  /** Model updates the search may make per roles tried. */
  readonly budget: number
  /** Deliveries the adversary can make at once (tried first). */
  readonly available?: (delivery: Delivery) => boolean
  /** Longest plan considered. */
  readonly maxLength?: number
}

/** The value that decides nothing at `stage` (see the file header), given the model's coin. */
export function harmlessValue(stage: number, coin: (round: number) => boolean): number {
  const step = stage % 3
  const round = Math.floor(stage / 3)
  if (step === 0) return FALSE
  if (step === 1) return TRUE
  // Leaving round r through the coin uses coin(r + 1).
  return coin(round + 1) ? FALSE : TRUE
}

/** The stage every peer has reached (the smallest), or -1 when some peer has no votes yet. */
export function commonStage(model: VoteModel): number {
  let stage = Number.POSITIVE_INFINITY
  for (let p = 0; p < model.size; p++) {
    const votes = model.votes(p)
    if (votes === null) return -1
    stage = Math.min(stage, votes.length - 1)
  }
  return stage
}

/** Whether the model's state fits `roles` at `stage` (nothing decided, nothing out of role). */
export function fits(model: VoteModel, stage: number, roles: StageRoles): boolean {
  for (let p = 0; p < model.size; p++) {
    const votes = model.votes(p)
    if (votes === null || votes.length <= stage) return false
    if (votes.some((v) => v.decided !== 0)) return false
    const entry = votes[stage]
    if (entry.aux !== 0 && entry.aux !== roles.aux[p]) return false
    if (votes.length > stage + 2) return false
    if (votes.length === stage + 2 && !fresh(votes[stage + 1], roles.next[p])) return false
  }
  return true
}

/** The next stage's entry holds the planned estimate and nothing else has happened there yet. */
function fresh(entry: MetaVote, estimate: number): boolean {
  return (entry.est & estimate) !== 0 && entry.bin === 0 && entry.aux === 0
}

function complete(model: VoteModel, stage: number): boolean {
  for (let p = 0; p < model.size; p++) if (model.votes(p)!.length < stage + 2) return false
  return true
}

/** Progress within a stage: aux values set, bins, peers advanced. */
function progress(model: VoteModel, stage: number): number {
  let score = 0
  for (let p = 0; p < model.size; p++) {
    const votes = model.votes(p)!
    const entry = votes[stage]
    if (entry.aux !== 0) score += 2
    if (entry.bin !== 0) score += 1
    if (votes.length === stage + 2) score += 4
  }
  return score
}

/** Every roles assignment for `stage`: one peer sets ¬Y, two peers take Y into the next stage. */
export function rolesFor(model: VoteModel, stage: number): StageRoles[] {
  const y = harmlessValue(stage, model.coin)
  const other = y === TRUE ? FALSE : TRUE
  const n = model.size
  const out: StageRoles[] = []
  for (let lone = 0; lone < n; lone++) {
    const aux = Array.from({ length: n }, (_, p) => (p === lone ? other : y))
    for (let a = 0; a < n; a++) {
      for (let b = a + 1; b < n; b++) {
        out.push({ aux, next: Array.from({ length: n }, (_, p) => (p === a || p === b ? y : other)) })
      }
    }
  }
  return out
}

/** A plan completing the current common stage, or null if none was found within the budget. */
export function planStage(model: VoteModel, options: PlanOptions): StagePlan | null {
  const stage = commonStage(model)
  if (stage < 0 || model.anyDecided()) return null
  for (const roles of rolesFor(model, stage)) {
    if (!fits(model, stage, roles)) continue
    const deliveries = search(model, stage, roles, options)
    if (deliveries !== null) return { stage, roles, deliveries }
  }
  return null
}

/** Best-first search for deliveries completing `stage` under `roles`; available ones are tried first. */
function search(model: VoteModel, stage: number, roles: StageRoles, options: PlanOptions): Delivery[] | null {
  if (complete(model, stage)) return []
  const maxLength = options.maxLength ?? 24
  const seen = new Set<string>()
  const buckets: { model: VoteModel; path: Delivery[] }[][] = []
  const push = (item: { model: VoteModel; path: Delivery[] }, score: number) => {
    if (buckets[score] === undefined) buckets[score] = []
    buckets[score].push(item)
  }
  push({ model, path: [] }, progress(model, stage))
  const all: Delivery[] = []
  for (let to = 0; to < model.size; to++) {
    for (let from = 0; from < model.size; from++) if (to !== from) all.push({ to, from })
  }
  const available = options.available
  const ordered =
    available === undefined ? all : [...all.filter(available), ...all.filter((d) => !available(d))]
  let spent = 0
  while (spent < options.budget) {
    let score = buckets.length - 1
    while (score >= 0 && (buckets[score] === undefined || buckets[score].length === 0)) score--
    if (score < 0) return null
    const { model: current, path } = buckets[score].shift()!
    for (const delivery of ordered) {
      spent++
      const next = current.receive(delivery.to, delivery.from)
      if (!fits(next, stage, roles)) continue
      const key = next.key(stage)
      if (seen.has(key)) continue
      seen.add(key)
      const extended = [...path, delivery]
      if (complete(next, stage)) return extended
      if (extended.length < maxLength) push({ model: next, path: extended }, progress(next, stage))
    }
  }
  return null
}
