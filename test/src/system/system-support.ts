/** What the network-namespace system tests share: the CLI in the host's namespace, agreement, waiting. */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { type BlocksJson, PEER_BIN } from 'parsec-peer/local-section'
import type { NetnsPeer } from './netns-peer.js'

const run = promisify(execFile)

/** Runs the CLI in the host's namespace (keygen and genesis need no network); stdout. */
export async function hostCli(args: string[]): Promise<string> {
  return (await run(process.execPath, [PEER_BIN, ...args], { timeout: 30_000 })).stdout
}

/** What every peer must agree on in a block (not when it delivered it, nor whose votes it holds). */
function agreed(block: BlocksJson['blocks'][number]): unknown {
  return {
    position: block.position,
    kind: block.kind,
    payload: block.payload,
    peer: block.peer,
    peers: block.peers,
  }
}

/** Polls `check` every `everyMs` until it holds; throws naming `what` once `deadline` (epoch ms) passed. */
export async function waitUntil(
  what: string,
  deadline: number,
  check: () => Promise<boolean>,
  everyMs: number,
): Promise<void> {
  for (;;) {
    if (await check()) return
    if (Date.now() >= deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** Each peer's blocks (`sequences[i]`, from position 0) are peer 0's, which begin with the genesis block. */
export function assertSameBlocks(sequences: readonly BlocksJson['blocks'][]): void {
  const [first, ...others] = sequences.map((blocks) => blocks.map(agreed))
  for (const [i, sequence] of others.entries()) {
    assert.deepEqual(sequence, first, `peer ${i + 1} holds the blocks peer 0 holds`)
  }
  assert.equal(sequences[0][0].kind, 'genesis')
}

/** Stops every peer (SIGTERM); each exits 0. */
export async function assertStopCleanly(peers: readonly NetnsPeer[]): Promise<void> {
  const exits = await Promise.all(peers.map((p) => p.stop()))
  assert.deepEqual(
    exits,
    peers.map(() => ({ code: 0, signal: null })),
    'every peer stops cleanly on SIGTERM',
  )
}
