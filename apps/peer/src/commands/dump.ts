/**
 * `parsec-peer dump --api HOST:PORT --out FILE.(dot|svg)`: a running peer's gossip graph through
 * its control API (`GET /graph`), as DOT (the whole graph by default: `parsec-peer replay` reads it
 * back) or rendered to SVG.
 */
import { writeFileSync } from 'node:fs'
import { extname, resolve } from 'node:path'
import { readApiTokenFile } from '../api-token.js'
import { intOption, parse, UsageError } from '../args.js'
import { ApiClient } from '../local-section.js'
import { parseHostPort } from './start.js'

const HELP = `usage: parsec-peer dump --api HOST:PORT --out FILE.dot|FILE.svg [--last N] [--api-token FILE] [--json]

Writes the gossip graph of the peer whose control API is at HOST:PORT (parsec-peer start --api) to
--out, never overwriting it: in the reference's DOT layout for a .dot file (the whole graph by
default, which 'parsec-peer replay FILE.dot' reads back), rendered to SVG by Graphviz (WebAssembly,
nothing to install) for a .svg file. --last N: only the last N events (a view for reading; its DOT
says it cannot be replayed). Rendering a large graph to SVG takes long: use --last for a picture.
  --api-token FILE  the API's bearer token (the file given to start --api-token).
  --json            print {"file", "format", "bytes", "events"}.
Exit 0 when written; 1 when the peer could not be reached or answered an error; 2 on bad arguments.`

export const dumpCommand = {
  summary: "write a running peer's gossip graph (DOT or SVG)",
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      api: { type: 'string' },
      'api-token': { type: 'string' },
      out: { type: 'string', short: 'o' },
      last: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    if (values.api === undefined) throw new UsageError('--api HOST:PORT is required')
    if (values.out === undefined) throw new UsageError('--out FILE.dot or FILE.svg is required')
    const { host, port } = parseHostPort(values.api as string, '--api')
    const out = values.out as string
    const format = extname(out).toLowerCase().slice(1)
    if (format !== 'dot' && format !== 'svg')
      throw new UsageError(`--out ${out}: the file must end in .dot or .svg`)
    const last =
      values.last === undefined ? undefined : intOption(values, 'last', 0, 1, Number.MAX_SAFE_INTEGER)
    const token =
      values['api-token'] === undefined ? undefined : readApiTokenFile(values['api-token'] as string)
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
    const api = new ApiClient(address, token)
    const query = `format=${format}${last === undefined ? '' : `&last=${last}`}`
    let answer: Awaited<ReturnType<ApiClient['request']>>
    try {
      answer = await api.request('GET', `/graph?${query}`, undefined, {}, 600_000)
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code
      console.error(
        `parsec-peer dump: no answer from the API at ${address}: ${cause ?? (error as Error).message}`,
      )
      return 1
    }
    if (answer.status !== 200) {
      const error = (answer.json as { error?: { code?: string; message?: string } } | undefined)?.error
      console.error(
        `parsec-peer dump: ${answer.status} ${error?.code ?? ''}: ${error?.message ?? answer.text}`,
      )
      return 1
    }
    try {
      writeFileSync(out, answer.text, { flag: 'wx' })
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EEXIST') throw new UsageError(`${out} already exists; refusing to overwrite it`)
      throw new UsageError(`cannot write ${out}: ${code ?? (error as Error).message}`)
    }
    const bytes = Buffer.byteLength(answer.text)
    const events = format === 'dot' ? (answer.text.match(/^\/\/\/ cause: /gm)?.length ?? 0) : undefined
    if (values.json === true)
      console.log(JSON.stringify({ file: resolve(out), format, bytes, events: events ?? null }))
    else
      console.log(
        `wrote ${out}: ${format}, ${bytes} bytes${events === undefined ? '' : `, ${events} events`}`,
      )
    return 0
  },
}
