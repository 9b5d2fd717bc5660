/**
 * `parsec-peer genesis FILE... [--addr PEERID=MULTIADDR ...] [--mode single|supermajority]
 * [--out FILE] [--json]`: the genesis file of a new section, from key or member files.
 */
import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { createGenesis, genesisToFile, isSectionError } from '@parsec-section/p2p-section'
import { choiceOption, parse, UsageError } from '../args.js'
import { type MemberEntry, readMemberFile } from '../identity-file.js'

const HELP = `usage: parsec-peer genesis FILE... [--addr PEERID=MULTIADDR ...] [--mode single|supermajority]
                           [--related-info HEX] [--out FILE] [--json]

Builds the genesis of a new section whose founding members are the identities in the FILEs (key
files from 'parsec-peer keygen', or member files {"peerId": "12D3Koo...", "addrs": [MULTIADDR...]})
and writes the genesis file (JSON: {"version": 1, "mode", "members": [{"peerId", "addrs"}]}) to
--out (never overwritten) or to stdout. --addr adds a listen address to a member (repeatable); every
peer dials the others at these addresses. --mode: single (default; a payload voted at any one
member becomes a block) or supermajority (voted at more than two thirds of the members).
--related-info HEX: opaque bytes agreed with the genesis (part of the section id; at most 64 KiB).
Prints the section id (on stderr when the genesis goes to stdout); --json prints
{"sectionId", "mode", "members", "file"} when --out is given.`

/** Parses `PEERID=MULTIADDR`. */
function parseAddrOption(text: string): { peerId: string; addr: Multiaddr } {
  const at = text.indexOf('=')
  if (at <= 0) throw new UsageError(`--addr takes PEERID=MULTIADDR, not '${text}'`)
  return { peerId: text.slice(0, at), addr: parseMultiaddr(text.slice(at + 1), '--addr') }
}

export function parseMultiaddr(text: string, where: string): Multiaddr {
  try {
    return multiaddr(text)
  } catch (error) {
    throw new UsageError(`${where}: '${text}' is not a multiaddr (${(error as Error).message})`)
  }
}

/**
 * Refuses a member address `start` cannot dial: peers speak TCP only (no QUIC, WebSockets or
 * WebRTC transport), and a `/p2p/` suffix must name the member itself.
 */
function checkMemberAddress(addr: Multiaddr, peerId: string, where: string): void {
  const components = addr.getComponents()
  const [host, tcp, ...rest] = components
  const hostOk = ['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(host?.name ?? '')
  const restOk = rest.length === 0 || (rest.length === 1 && rest[0].name === 'p2p')
  if (!hostOk || tcp?.name !== 'tcp' || !restOk) {
    throw new UsageError(
      `${where}: '${addr}' is no TCP address (/ip4|ip6|dns4|dns6|dns/HOST/tcp/PORT[/p2p/PEERID]): peers dial each other over TCP only`,
    )
  }
  const named = rest[0]?.value
  if (named !== undefined && named !== peerId)
    throw new UsageError(`${where}: '${addr}' names peer ${named}, not the member ${peerId} it is given for`)
}

/** The largest `--related-info` (the genesis file's `relatedInfo`). */
const MAX_RELATED_INFO_BYTES = 64 * 1024

function relatedInfoOption(raw: unknown): Uint8Array {
  if (raw === undefined) return new Uint8Array(0)
  const text = String(raw)
  if (!/^([0-9a-fA-F]{2})*$/.test(text))
    throw new UsageError(`--related-info takes hex bytes (an even number of hex digits), not '${text}'`)
  if (text.length / 2 > MAX_RELATED_INFO_BYTES)
    throw new UsageError(`--related-info: ${text.length / 2} bytes, at most ${MAX_RELATED_INFO_BYTES}`)
  return Uint8Array.from(Buffer.from(text, 'hex'))
}

export const genesisCommand = {
  summary: 'build the genesis file of a new section',
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parse(
      args,
      {
        addr: { type: 'string', multiple: true },
        mode: { type: 'string' },
        'related-info': { type: 'string' },
        out: { type: 'string', short: 'o' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      true,
    )
    if (values.help) {
      console.log(HELP)
      return 0
    }
    if (positionals.length === 0) throw new UsageError('expects at least one key or member FILE')
    const mode = choiceOption(values, 'mode', ['single', 'supermajority'] as const, 'single')
    const entries: MemberEntry[] = positionals.map(readMemberFile)
    const addrs = new Map<string, Multiaddr[]>()
    for (const [i, entry] of entries.entries()) {
      const key = entry.peerId.toString()
      if (addrs.has(key)) throw new UsageError(`${positionals[i]}: peer ${key} is listed twice`)
      const parsed = entry.addrs.map((a) => parseMultiaddr(a, positionals[i]))
      for (const addr of parsed) checkMemberAddress(addr, key, positionals[i])
      addrs.set(key, parsed)
    }
    for (const option of (values.addr as string[] | undefined) ?? []) {
      const { peerId, addr } = parseAddrOption(option)
      const list = addrs.get(peerId)
      if (list === undefined) throw new UsageError(`--addr: peer ${peerId} is not one of the members`)
      checkMemberAddress(addr, peerId, '--addr')
      if (!list.some((a) => a.equals(addr))) list.push(addr)
    }
    const relatedInfo = relatedInfoOption(values['related-info'])
    let genesis: ReturnType<typeof createGenesis>
    try {
      genesis = createGenesis(
        entries.map((entry) => ({ peerId: entry.peerId, addrs: addrs.get(entry.peerId.toString()) ?? [] })),
        mode,
        relatedInfo,
      )
    } catch (error) {
      if (isSectionError(error)) throw new UsageError(error.message)
      throw error
    }
    const text = `${JSON.stringify(genesisToFile(genesis), null, 2)}\n`
    const out = values.out
    if (typeof out === 'string') {
      try {
        writeFileSync(out, text, { flag: 'wx' })
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if (code === 'EEXIST') throw new UsageError(`${out} already exists; refusing to overwrite it`)
        throw new UsageError(`cannot write ${out}: ${code ?? (error as Error).message}`)
      }
      if (values.json) {
        console.log(
          JSON.stringify({
            sectionId: genesis.sectionId,
            mode,
            members: genesis.members.map((m) => m.peerId.toString()),
            file: resolve(out),
          }),
        )
      } else {
        console.log(genesis.sectionId)
      }
    } else {
      process.stdout.write(text)
      console.error(`section ${genesis.sectionId}`)
    }
    return 0
  },
}
