/**
 * Replay (spec §12.4 "Play"): a fresh peer with the reference's rules runs the recorded actions,
 * then every block is polled. The result is what `parsec-peer replay --json` prints.
 */
import { type BlockDescription, describeBlock } from '../block-description.js'
import { toHex } from '../encoding/bytes.js'
import { MockSecretId } from '../identity/mock.js'
import { parityCoin } from '../meta-voting/coin.js'
import { Parsec } from '../parsec.js'
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
  readonly parsec: Parsec
}

export interface ParsedRecording {
  readonly graph: DotGraph
  readonly record: Record
}

export function parseRecording(text: string): ParsedRecording {
  const graph = parseDot(text)
  return { graph, record: record(graph) }
}

/** Runs the recorded actions on a fresh peer with the reference's rules (parity coin). */
export function play(recording: Record): Parsec {
  const parsec = Parsec.fromGenesis({
    us: new MockSecretId(recording.ourId.name),
    genesis: recording.genesis,
    consensusMode: recording.consensusMode,
    coin: parityCoin,
    referenceRules: true,
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
        parsec.handleRequest(action.src, { packedEvents: action.packedEvents })
        break
      case 'response':
        parsec.handleResponse(action.src, { packedEvents: action.packedEvents })
        break
    }
  }
  return parsec
}

export function replay(recording: Record): ReplayResult {
  const parsec = play(recording)
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
    parsec,
  }
}
