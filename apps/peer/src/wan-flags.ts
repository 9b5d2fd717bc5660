/**
 * `--wan-delay-ms D [--wan-jitter-ms J] [--wan-seed S]` of `demo` and `bench-live`: a WAN-like
 * local section, each peer reached by the others through a proxy adding D ± J ms each way
 * (wan-proxy.ts, `LocalSectionOptions.wan`).
 */
import { intOption, UsageError } from './args.js'
import type { WanOptions } from './local-section.js'

/** The options for `parse` (node:util parseArgs). */
export const WAN_FLAGS = {
  'wan-delay-ms': { type: 'string' },
  'wan-jitter-ms': { type: 'string' },
  'wan-seed': { type: 'string' },
} as const

/** The help lines of the flags. */
export const WAN_HELP = `--wan-delay-ms D [--wan-jitter-ms J] [--wan-seed S]: a WAN-like section: every peer listens on its
own port, but the others reach it only through a local TCP proxy (one per peer, in this process)
that holds every chunk D ± J ms (uniform) in each direction, keeping the byte order; the proxies'
addresses are the ones in the genesis and the ones the peers announce (--announce). The jitter
comes from a PRNG seeded with S (default random; the seed is printed on stderr, so a run can be
repeated). J must not exceed D; default 0.`

/** The WAN options the flags ask for (undefined: none, the default). */
export function wanOptions(values: Record<string, unknown>): WanOptions | undefined {
  if (values['wan-delay-ms'] === undefined) {
    for (const name of ['wan-jitter-ms', 'wan-seed']) {
      if (values[name] !== undefined) throw new UsageError(`--${name} needs --wan-delay-ms`)
    }
    return undefined
  }
  const delayMs = intOption(values, 'wan-delay-ms', 0, 0, 60_000)
  const jitterMs = intOption(values, 'wan-jitter-ms', 0, 0, 60_000)
  if (jitterMs > delayMs) {
    throw new UsageError(`--wan-jitter-ms must not exceed --wan-delay-ms (${jitterMs} > ${delayMs})`)
  }
  const seed = values['wan-seed'] === undefined ? undefined : intOption(values, 'wan-seed', 0, 0, 0xffff_ffff)
  return { delayMs, jitterMs, ...(seed === undefined ? {} : { seed }) }
}

/** The flags again, to pass to a child `demo` (empty without WAN). */
export function wanArgs(wan: WanOptions | undefined): string[] {
  if (wan === undefined) return []
  return [
    '--wan-delay-ms',
    `${wan.delayMs}`,
    '--wan-jitter-ms',
    `${wan.jitterMs ?? 0}`,
    ...(wan.seed === undefined ? [] : ['--wan-seed', `${wan.seed}`]),
  ]
}

/** One line describing the section's links, for stderr. */
export function describeWan(wan: WanOptions, seed: number | undefined): string {
  return `WAN-like links: every peer reached through a proxy adding ${wan.delayMs} ± ${wan.jitterMs ?? 0} ms each way (seed ${seed})`
}
