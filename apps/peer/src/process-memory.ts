/**
 * This process's memory as the control API reports it (`GET /status` → `memory`), from
 * `process.memoryUsage()`. `GET /status?gc=1` asks for a full garbage collection first, so the heap
 * figure counts only what is retained: a diagnostic (it pauses the peer for the collection) that
 * works only when node runs with `--expose-gc` and is otherwise a plain read (`afterGc` says which).
 */

export interface ProcessMemoryJson {
  readonly rssBytes: number
  readonly heapUsedBytes: number
  readonly heapTotalBytes: number
  readonly externalBytes: number
  readonly arrayBuffersBytes: number
  /** Whether a full garbage collection ran just before these figures were read. */
  readonly afterGc: boolean
}

/** Reads the memory figures, after a full collection when `collect` is set and `gc` is exposed. */
export function processMemory(collect: boolean): ProcessMemoryJson {
  const afterGc = collect && typeof globalThis.gc === 'function'
  if (afterGc) globalThis.gc?.()
  const usage = process.memoryUsage()
  return {
    rssBytes: usage.rss,
    heapUsedBytes: usage.heapUsed,
    heapTotalBytes: usage.heapTotal,
    externalBytes: usage.external,
    arrayBuffersBytes: usage.arrayBuffers,
    afterGc,
  }
}
