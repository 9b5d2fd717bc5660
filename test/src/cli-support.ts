/** Running the command-line peer as a process, for the CLI tests. */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { type LocalSection, PEER_BIN } from 'parsec-peer/local-section'

const encoder = new TextEncoder()

export interface Run {
  status: number | null
  stdout: string
  stderr: string
}

/** Runs `parsec-peer args` to completion (killed after `timeoutMs`, default 30 s). */
export function cli(args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PEER_BIN, ...args], {
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}

/** Exit 2 with one clear line on stderr, from `command` (any by default), matching `pattern`. */
export function assertUsage(run: Run, pattern: RegExp, command = '[\\w-]+'): void {
  assert.equal(run.status, 2, `exit status (stderr: ${run.stderr})`)
  const lines = run.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line on stderr: ${run.stderr}`)
  assert.match(lines[0], new RegExp(`^parsec-peer ${command}: `))
  assert.match(lines[0], pattern)
}

/**
 * The JSON lines (`start --json`) the peers of a section print on stdout, by peer index, and the
 * `onLine` of `LocalSection.create` that collects them.
 */
export function peerEvents(): {
  events: Record<string, unknown>[][]
  onLine: (peer: number, stream: 'stdout' | 'stderr', line: string) => void
} {
  const events: Record<string, unknown>[][] = []
  const onLine = (peer: number, stream: 'stdout' | 'stderr', line: string): void => {
    if (stream !== 'stdout') return
    events[peer] ??= []
    events[peer].push(JSON.parse(line))
  }
  return { events, onLine }
}

/** Polls until `check` holds (or throws after `timeoutMs`, with `describe()` in the message). */
export async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  describe: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`after ${timeoutMs} ms: ${describe()}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/**
 * Votes `text` at `peers[0]`; every peer of `peers` delivers it. Resolves with each one's blocks up to
 * and including it, as `opaque:TEXT` or `KIND:PEER` (later blocks a fetch brought are cut off, so
 * the lists of peers that agree are equal).
 */
export async function agreeOn(
  section: LocalSection,
  peers: readonly number[],
  text: string,
): Promise<string[][]> {
  await section.api(peers[0]).vote([encoder.encode(text)])
  return Promise.all(
    peers.map(async (i) => {
      const api = section.api(i)
      const texts: string[] = []
      const deadline = Date.now() + 60_000
      while (!texts.includes(`opaque:${text}`)) {
        if (Date.now() > deadline) throw new Error(`peer ${i} did not deliver "${text}"`)
        const next = await api.blocks({ from: texts.length, wait: 2000 })
        texts.push(
          ...next.blocks.map((b) => (b.kind === 'opaque' ? `opaque:${b.text}` : `${b.kind}:${b.peer ?? ''}`)),
        )
      }
      return texts.slice(0, texts.indexOf(`opaque:${text}`) + 1)
    }),
  )
}

/**
 * Votes a payload (`tick PEER N`) at `peer` every 300 ms until the returned function is called (it
 * resolves once the loop ended): decisions keep coming, for suspicion and while peers join. A
 * failed vote is ignored.
 */
export function keepVoting(section: LocalSection, peer = 0): () => Promise<void> {
  let running = true
  let n = 0
  const loop = (async () => {
    while (running) {
      await section
        .api(peer)
        .vote([encoder.encode(`tick ${peer} ${n++}`)])
        .catch(() => {})
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
  })()
  return async () => {
    running = false
    await loop
  }
}
