/** A small strict argument parser: unknown flags and malformed values are usage errors (exit 2). */
import { parseArgs } from 'node:util'

export class UsageError extends Error {
  override readonly name = 'UsageError'
}

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; short?: string }

export function parse<T extends Record<string, OptionSpec>>(
  args: string[],
  options: T,
  allowPositionals = false,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: negativeValues(args, options),
      options,
      allowPositionals,
      strict: true,
    })
    return { values: values as Record<string, string | boolean | string[] | undefined>, positionals }
  } catch (error) {
    // node's messages can span lines; keep the one-line rule.
    throw new UsageError((error as Error).message.replace(/\s*\n\s*/g, ' ').trim())
  }
}

/**
 * `--payloads -1` as `--payloads=-1`: node's parser takes a value starting with a dash for an
 * option and explains its own syntax; joined, the option's own check says what it takes.
 */
function negativeValues(args: readonly string[], options: Record<string, OptionSpec>): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith('--') ? args[i].slice(2) : undefined
    const next = args[i + 1]
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${args[i]}=${next}`)
      i++
    } else out.push(args[i])
  }
  return out
}

/** An unsigned integer option within [min, max]. */
export function intOption(
  values: Record<string, unknown>,
  name: string,
  fallback: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = values[name]
  if (raw === undefined) return fallback
  if (typeof raw !== 'string' || !/^\d+$/.test(raw))
    throw new UsageError(`--${name} takes an unsigned integer, not '${raw}'`)
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be between ${min} and ${max}, not ${raw}`)
  }
  return value
}

export function choiceOption<C extends string>(
  values: Record<string, unknown>,
  name: string,
  choices: readonly C[],
  fallback: C,
): C {
  const raw = values[name]
  if (raw === undefined) return fallback
  if (typeof raw !== 'string' || !choices.includes(raw as C)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, not '${String(raw)}'`)
  }
  return raw as C
}

/**
 * `--block-retention N`: keep only the last N agreed blocks (a positive integer), or `all` (null);
 * undefined when the option is absent.
 */
export function blockRetentionOption(values: Record<string, unknown>): number | null | undefined {
  const raw = values['block-retention']
  if (raw === undefined) return undefined
  if (raw === 'all') return null
  if (typeof raw !== 'string' || !/^\d+$/.test(raw))
    throw new UsageError(
      `--block-retention takes a positive integer (the agreed blocks kept) or 'all', not '${String(raw)}'`,
    )
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < 1)
    throw new UsageError(`--block-retention must be at least 1 (the agreed blocks kept) or 'all', not ${raw}`)
  return value
}
