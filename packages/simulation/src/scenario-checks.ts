/**
 * Checks shared by the scenarios: what every honest peer must hold at the end of a run, and the
 * membership, crash and Single-mode expectations.
 */
import type { SimulationOptions } from './options.js'
import type { SimulationResult } from './result.js'

/**
 * Every honest peer holds exactly: genesis first, each opaque payload once (Single mode: once per
 * voter that voted it and stayed honest; a voter that crashed or left after voting may or may not
 * get its block), each added and each removed peer once, accusations (not known in advance: each
 * must name a peer that provably misbehaved), and nothing else.
 */
export function checkExpectedBlocks(result: SimulationResult, options: SimulationOptions): string[] {
  const problems: string[] = []
  const { opaque, added, removed, votes } = result.expected
  const single = (options.consensusMode ?? 'supermajority') === 'single'
  if (opaque.length !== (options.opaque ?? 5)) {
    problems.push(`${opaque.length} opaque payloads voted, expected ${options.opaque ?? 5}`)
  }
  if (added.length !== (options.peersToAdd ?? 0)) {
    problems.push(`${added.length} peers added, expected ${options.peersToAdd ?? 0}`)
  }
  if (removed.length !== (options.peersToRemove ?? 0)) {
    problems.push(`${removed.length} peers removed, expected ${options.peersToRemove ?? 0}`)
  }
  const guilty = new Set(result.misbehaviour.filter((m) => m.malice !== undefined).map((m) => m.peer))
  for (const name of result.honest) {
    const blocks = result.peers[name]
    if (blocks[0]?.kind !== 'genesis') problems.push(`${name}'s first block is not genesis`)
    const accusations = blocks.filter((b) => b.kind === 'accusation')
    for (const block of accusations) {
      if (!guilty.has(block.offender)) problems.push(`${name} holds an accusation of ${block.offender}`)
    }
    let expectedCount = 1 + added.length + removed.length + accusations.length
    for (const payload of opaque) {
      const held = blocks.filter((b) => b.kind === 'opaque' && b.payload === payload)
      expectedCount += held.length
      if (!single) {
        if (held.length !== 1) {
          problems.push(`${name} holds opaque "${payload}" ${held.length} times, expected once`)
        }
        continue
      }
      const cast = votes[payload] ?? []
      if (cast.length === 0) problems.push(`nobody voted opaque "${payload}"`)
      const voters = held.flatMap((b) => b.voters)
      for (const voter of cast) {
        if (result.honest.includes(voter) && !voters.includes(voter)) {
          problems.push(`${name} lacks opaque "${payload}" voted by ${voter}`)
        }
      }
      for (const voter of voters) {
        if (!cast.includes(voter)) {
          problems.push(`${name} holds opaque "${payload}" by ${voter}, who did not vote it`)
        }
      }
    }
    for (const peer of added) {
      if (blocks.filter((b) => b.kind === 'add' && b.peer === peer).length !== 1) {
        problems.push(`${name} lacks Add(${peer})`)
      }
    }
    for (const peer of removed) {
      if (blocks.filter((b) => b.kind === 'remove' && b.peer === peer).length !== 1) {
        problems.push(`${name} lacks Remove(${peer})`)
      }
    }
    if (blocks.length !== expectedCount) {
      problems.push(`${name} holds ${blocks.length} blocks, expected ${expectedCount}`)
    }
  }
  return problems
}

/** The final section has `size` members and every honest peer is one of them. */
export function finalMembership(result: SimulationResult, size: number): string[] {
  const problems: string[] = []
  const { members, removed } = result.expected
  if (members.length !== size) {
    problems.push(`${members.length} members at the end (${members.join(',')}), expected ${size}`)
  }
  for (const name of result.honest) {
    if (!members.includes(name)) problems.push(`honest ${name} is not a member`)
  }
  for (const name of removed) if (members.includes(name)) problems.push(`removed ${name} is still a member`)
  return problems
}

export function crashes(result: SimulationResult, count: number, genesisSize: number): string[] {
  const problems: string[] = []
  if (result.expected.crashed.length !== count) {
    problems.push(
      `${result.expected.crashed.length} peers crashed (${result.expected.crashed.join(',')}), expected ${count}`,
    )
  }
  const honest = genesisSize - count
  if (result.honest.length !== honest) {
    problems.push(`${result.honest.length} honest peers at the end, expected ${honest}`)
  }
  return problems
}

/** Single mode: every opaque block carries exactly one vote (the simulator checks it is a voter's). */
export function singleVotes(result: SimulationResult): string[] {
  const problems: string[] = []
  for (const name of result.honest) {
    for (const block of result.peers[name]) {
      if (block.kind === 'opaque' && block.voters.length !== 1) {
        problems.push(`${name}: Single-mode block "${block.payload}" has ${block.voters.length} votes`)
      }
    }
  }
  return problems
}
