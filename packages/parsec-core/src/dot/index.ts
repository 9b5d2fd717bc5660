/** DOT gossip-graph files (spec §12): parse, record, replay and dump. */

export type { DumpOptions } from './dump.js'
export { dumpDot, sanitizeId, shortNames } from './dump.js'
export type { DotCause, DotEvent, DotGraph, DotObservation } from './parse.js'
export { DotParseError, parseDot, parseObservation } from './parse.js'
export type { Record, ReplayAction } from './record.js'
export { record, toObservation } from './record.js'
export type { ParsedRecording, ReplayOptions, ReplayResult } from './replay.js'
export { parseRecording, play, replay } from './replay.js'
