/**
 * parsec-peer: the command-line peer. Each command lives in `commands/`; this file only
 * dispatches. Exit codes: 0 success, 1 the run failed its check, 2 bad arguments or input.
 */
import { readFileSync } from 'node:fs'
import { UsageError } from './args.js'

interface Command {
  readonly summary: string
  run(args: string[]): Promise<number>
}

const commands: Record<string, () => Promise<Command>> = {
  keygen: async () => (await import('./commands/keygen.js')).keygenCommand,
  genesis: async () => (await import('./commands/genesis.js')).genesisCommand,
  start: async () => (await import('./commands/start.js')).startCommand,
  leave: async () => (await import('./commands/leave.js')).leaveCommand,
  dump: async () => (await import('./commands/dump.js')).dumpCommand,
  dht: async () => (await import('./commands/dht.js')).dhtCommand,
  demo: async () => (await import('./commands/demo.js')).demoCommand,
  replay: async () => (await import('./commands/replay.js')).replayCommand,
  simulate: async () => (await import('./commands/simulate.js')).simulateCommand,
  soak: async () => (await import('./commands/soak.js')).soakCommand,
  'soak-live': async () => (await import('./commands/soak-live.js')).soakLiveCommand,
  bench: async () => (await import('./commands/bench.js')).benchCommand,
  'bench-live': async () => (await import('./commands/bench-live.js')).benchLiveCommand,
  'bench-growth': async () => (await import('./commands/bench-growth.js')).benchGrowthCommand,
  'bench-memory': async () => (await import('./commands/bench-memory.js')).benchMemoryCommand,
  'bench-join': async () => (await import('./commands/bench-join.js')).benchJoinCommand,
}

/** This package's version, from its package.json (two levels up from dist/src, in a tarball too). */
export function version(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8')
  return (JSON.parse(text) as { version: string }).version
}

function usage(): string {
  return [
    'usage: parsec-peer <command> [options]',
    '',
    'commands:',
    '  keygen     write a new Ed25519 identity to a key file',
    '  genesis    build the genesis file of a new section from key or member files',
    '  start      run one section peer over libp2p, with a local control API',
    '  leave      make a running peer leave its section gracefully (through its API)',
    "  dump       write a running peer's gossip graph as DOT or SVG (through its API)",
    '  dht        run a peer of the shared DHT only (a bootstrap node for any section)',
    '  demo       run a local section of peer processes, vote payloads, check agreement',
    '  simulate   run a deterministic in-process section (seeded)',
    '  replay     replay a recorded gossip graph (.dot) and print its blocks',
    '  soak       run many simulation seeds across the scenario suite',
    '  bench      replay the benchmark graphs and compare with the reference',
    '  bench-live benchmark live sections of peer processes (pnpm bench:live)',
    '  bench-growth  events per agreed payload, idle events and memory of a live section',
    '  bench-memory measure the heap bytes per event of a peer, live and restored',
    '  bench-join join latency against the history a joiner replays (simulation)',
    '  soak-live  RSS and disk of a live section against the events created (pnpm soak:live)',
    '',
    "run 'parsec-peer <command> --help' for a command's options; 'parsec-peer --version' (-V) for the version",
  ].join('\n')
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-V') {
    console.log(version())
    return 0
  }
  const load = commands[name]
  if (load === undefined) {
    console.error(`parsec-peer: unknown command '${name}'\n\n${usage()}`)
    return 2
  }
  try {
    return await (await load()).run(rest)
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`parsec-peer ${name}: ${error.message}`)
      return 2
    }
    throw error
  }
}
