/**
 * `parsec-peer replay FILE.dot [--json]`: rebuilds the recording peer's history from a reference
 * gossip graph (spec §12) and prints the blocks it agrees on.
 */
import { readFileSync } from 'node:fs'
import type { Fault } from '@parsec-section/parsec-core'
import { DotParseError, parseRecording, replay } from '@parsec-section/parsec-core/dot'
import { parse, UsageError } from '../args.js'
import { formatBlock } from '../format.js'

const HELP = `usage: parsec-peer replay FILE.dot [--malice] [--json]

Replays a gossip graph recorded by the reference implementation (its DOT dump) with the reference's
rules (malice detection off, fork-blind "sees", parity coin), polls every block and prints them.
--malice also runs our malice detection (spec §9.2 with the §15 fixes) in report mode: it lists
the misbehaviour it finds and changes nothing, so the blocks stay the recorded ones.
--json prints one JSON object:
{"graph","ourId","consensusMode","events","parseMs","replayMs","blocks","consensusHistory"}
(+ "faults": [{"offender","malice"}] with --malice).`

export const replayCommand = {
  summary: 'replay a recorded gossip graph and print its blocks',
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parse(
      args,
      { json: { type: 'boolean' }, malice: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      true,
    )
    if (values.help) {
      console.log(HELP)
      return 0
    }
    if (positionals.length !== 1) throw new UsageError('expects exactly one FILE.dot argument')
    const file = positionals[0]
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (error) {
      console.error(
        `parsec-peer replay: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      )
      return 2
    }
    const parseStart = performance.now()
    let recording: ReturnType<typeof parseRecording>
    try {
      recording = parseRecording(text)
    } catch (error) {
      if (error instanceof DotParseError) {
        console.error(`parsec-peer replay: ${file}: ${error.message}`)
        return 2
      }
      throw error
    }
    const parseMs = performance.now() - parseStart
    const replayStart = performance.now()
    let result: ReturnType<typeof replay>
    try {
      result = replay(recording.record, { maliceDetection: values.malice ? 'report' : 'off' })
    } catch (error) {
      console.error(
        `parsec-peer replay: ${file}: the recorded history does not replay: ${(error as Error).message}`,
      )
      return 2
    }
    const replayMs = performance.now() - replayStart
    if (values.json) {
      console.log(
        JSON.stringify({
          graph: file,
          ourId: result.ourId,
          consensusMode: result.consensusMode,
          events: result.events,
          parseMs: round(parseMs),
          replayMs: round(replayMs),
          blocks: result.blocks,
          consensusHistory: result.consensusHistory,
          ...(values.malice ? { faults: result.faults.map(faultJson) } : {}),
        }),
      )
      return 0
    }
    console.log(`graph        ${file}`)
    console.log(`our id       ${result.ourId}`)
    console.log(`mode         ${result.consensusMode}`)
    console.log(`events       ${result.events}`)
    console.log(`parse        ${parseMs.toFixed(1)} ms`)
    console.log(`replay       ${replayMs.toFixed(1)} ms`)
    console.log(`blocks       ${result.blocks.length}`)
    result.blocks.forEach((block, i) => {
      console.log(`  ${String(i).padStart(4)}  ${formatBlock(block)}`)
    })
    if (values.malice) {
      console.log(`malice       ${result.faults.length === 0 ? 'none found' : result.faults.length}`)
      for (const fault of result.faults) {
        const { offender, malice } = faultJson(fault)
        console.log(`  ${offender}: ${malice}`)
      }
    }
    return 0
  },
}

function faultJson(fault: Fault): { offender: string; malice: string } {
  return { offender: fault.offender.name, malice: fault.kind === 'malice' ? fault.malice.type : fault.code }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
