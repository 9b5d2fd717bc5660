/**
 * Replay (spec §12.4 "Play"): a fresh peer with the reference's rules runs the recorded actions,
 * then every block is polled. The result is what `parsec-peer replay --json` prints.
 */
import { type BlockDescription, describeBlock } from '../block-description.js'
import { toHex } from '../encoding/bytes.js'
import type { Fault } from '../faults.js'
import { MockSecretId } from '../identity/mock.js'
import { parityCoin } from '../meta-voting/coin.js'
import { type MaliceDetection, Parsec } from '../parsec.js'
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
 * handle calls report are appended to `faults`.
 */
export function play(recording: Record, options: ReplayOptions = {}, faults: Fault[] = []): Parsec {
  const parsec = Parsec.fromGenesis({
    us: new MockSecretId(recording.ourId.name),
    genesis: recording.genesis,
    consensusMode: recording.consensusMode,
    coin: parityCoin,
    referenceRules: true,
    maliceDetection: options.maliceDetection ?? 'off',
  })
  for (const action of recording.actions) {
    switch (action.kind) {
      case 'vote':
        parsec.voteFor(action.observation)
        break
      case 'requesting':
        parsec.createGossip(action.recipient)
        break
      case 'request':
        faults.push(...parsec.handleRequest(action.src, { packedEvents: action.packedEvents }).faults)
        break
      case 'response':
        faults.push(...parsec.handleResponse(action.src, { packedEvents: action.packedEvents }).faults)
        break
    }
  }
  return parsec
}

export function replay(recording: Record, options: ReplayOptions = {}): ReplayResult {
  const faults: Fault[] = []
  const parsec = play(recording, options, faults)
  const blocks: BlockDescription[] = []
  for (let block = parsec.poll(); block !== undefined; block = parsec.poll())
    blocks.push(describeBlock(block))
  const inspection = parsec.inspect()
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
