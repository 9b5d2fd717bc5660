/**
 * Replay (spec §12.4 "Play"): a fresh peer with the reference's rules runs the recorded actions,
 * then every block is polled. The result is what `parsec-peer replay --json` prints.
 */
import { type BlockDescription, describeBlock } from '../block-description.js'
import type { Block } from '../blocks.js'
import { toHex } from '../encoding/bytes.js'
import { internalsOf } from '../engine-internals.js'
import type { Fault } from '../faults.js'
import { MockSecretId } from '../identity/mock.js'
import { parityCoin } from '../meta-voting/coin.js'
import { type MaliceDetection, Parsec } from '../parsec.js'
import type { Step } from '../step.js'
import { type DotGraph, parseDot } from './parse.js'
import { type Record, record } from './record.js'

export interface ReplayResult {
  readonly ourId: string
  readonly consensusMode: 'single' | 'supermajority'
  /** Events in the replayed graph. */
  readonly events: number
  readonly blocks: BlockDescription[]
  /** `OH` (hex) of every decided key, in order (spec §12.5). */
  readonly consensusHistory: string[]
  /** Keys decided together by each decision. */
  readonly decisionSizes: number[]
  /** Malice found while replaying (only with detection on, see `ReplayOptions`). */
  readonly faults: Fault[]
  readonly parsec: Parsec
}

export interface ReplayOptions {
  /**
   * `off` (default): the reference's rules, as the vectors were recorded. `report`: malice
   * detection with our fixes (spec §15) runs and reports what it finds, changing nothing, so the
   * replay still yields the recorded blocks. (Accusing would add votes the recording never had.)
   */
  readonly maliceDetection?: Exclude<MaliceDetection, 'accuse'>
}

export interface ParsedRecording {
  readonly graph: DotGraph
  readonly record: Record
}

export function parseRecording(text: string): ParsedRecording {
  const graph = parseDot(text)
  return { graph, record: record(graph) }
}

/**
 * Runs the recorded actions on a fresh peer with the reference's rules (parity coin); faults the
 * handle calls report are appended to `faults`, and the blocks their steps hand over to `blocks`.
 * A recorded action the engine refuses ends the replay with its error.
 */
export function play(
  recording: Record,
  options: ReplayOptions = {},
  faults: Fault[] = [],
  blocks?: Block[],
): Parsec {
  const parsec = Parsec.fromGenesis({
    us: new MockSecretId(recording.ourId.name),
    genesis: recording.genesis,
    consensusMode: recording.consensusMode,
    coin: parityCoin,
    referenceRules: true,
    maliceDetection: options.maliceDetection ?? 'off',
  })
  for (const action of recording.actions) {
    let step: Step<unknown>
    switch (action.kind) {
      case 'vote':
        step = parsec.voteFor(action.observation)
        break
      case 'requesting':
        step = parsec.createGossip(action.recipient)
        break
      case 'request':
        step = parsec.handleRequest(action.src, { packedEvents: action.packedEvents })
        break
      case 'response':
        step = parsec.handleResponse(action.src, { packedEvents: action.packedEvents })
        break
    }
    if (step.faults.length > 0) faults.push(...step.faults)
    if (step.error !== undefined) throw step.error
    for (const { block } of step.blocks) blocks?.push(block)
  }
  return parsec
}

export function replay(recording: Record, options: ReplayOptions = {}): ReplayResult {
  const faults: Fault[] = []
  const agreed: Block[] = []
  const parsec = play(recording, options, faults, agreed)
  for (let block = parsec.poll(); block !== undefined; block = parsec.poll()) agreed.push(block)
  const blocks: BlockDescription[] = agreed.map((block) => describeBlock(block))
  const inspection = internalsOf(parsec)
  return {
    ourId: recording.ourId.name,
    consensusMode: recording.consensusMode,
    events: parsec.graphSize,
    blocks,
    consensusHistory: inspection.consensusHistory.map((key) => toHex(inspection.store.get(key).hash)),
    decisionSizes: [...inspection.decisionSizes],
    faults,
    parsec,
  }
}
