/**
 * A joiner's check of a served membership chain (spec §3.2): the GenesisRecord against the section
 * id, then every block against the voters that decided it (the voters at the start of its
 * election), with valid vote signatures from a supermajority of them. A liar can then only serve a
 * stale chain; `minSeq` turns a chain shorter than one we already verified into `StaleChain`.
 *
 * A chain keeps only its last Checkpoint entry (`SectionState.chain`): the checkpoints between two
 * membership entries may be missing (an unpruned chain, as older peers stored, verifies as well).
 * Checkpoints change no member, so every entry is still checked against its election's voters; the
 * returned state's epoch is the last checkpoint's `epoch` + 1 and its chain is the pruned one.
 */

import { mockPeerIds, type PeerIdDecoder } from '../encoding/peer-ids.js'
import { bytesEqual, sortIds } from '../engine-exports.js'
import { MembershipError } from '../errors.js'
import { supermajority } from '../quorum.js'
import { changeMatchesObservation } from './change.js'
import { type GenesisRecord, sectionIdOf } from './genesis-record.js'
import { type ChainEntry, SectionState } from './section-state.js'

export interface VerifyChainOptions {
  /** A chain we already verified: anything shorter is stale. */
  readonly minSeq?: number
  readonly ids?: PeerIdDecoder
}

/** Replays a verified chain into a SectionState (membership only: opaque blocks are skipped). */
export function verifyChain(
  sectionId: Uint8Array,
  record: GenesisRecord,
  chain: readonly ChainEntry[],
  options: VerifyChainOptions = {},
): SectionState {
  if (!bytesEqual(sectionIdOf(record), sectionId)) {
    throw new MembershipError('WrongSectionId', 'the genesis record does not hash to the section id')
  }
  const first = chain[0]
  if (first === undefined || first.change.kind !== 'genesis' || first.position !== 0) {
    throw new MembershipError('GenesisMismatch', 'the chain does not start with the genesis block')
  }
  const group = sortIds(first.change.group).map((id) => id.name)
  const expected = sortIds(record.group).map((id) => id.name)
  if (group.join('\n') !== expected.join('\n') || !bytesEqual(first.change.relatedInfo, record.relatedInfo)) {
    throw new MembershipError('GenesisMismatch', 'the genesis block is not the genesis record')
  }
  const state = new SectionState(record, 1, options.ids ?? mockPeerIds)
  let voters = new Set(expected)
  let previousPosition = -1
  chain.forEach((entry, index) => {
    if (index > 0 && entry.change.kind === 'genesis') {
      throw new MembershipError('InconsistentEntry', `a second genesis at entry ${index}`)
    }
    if (entry.position <= previousPosition || (entry.batchedWithPrevious === true && index === 0)) {
      throw new MembershipError('InconsistentEntry', `entry ${index} out of order`)
    }
    if (!changeMatchesObservation(entry.change, entry.observation)) {
      throw new MembershipError('InconsistentEntry', `entry ${index} does not match its signed observation`)
    }
    if (index > 0 && entry.batchedWithPrevious !== true) {
      const current = new Set(state.memberIds().map((id) => id.name))
      // Unknown election boundaries (a host without election indices): an entry that fails against
      // the current voters may have been decided with the previous one, by that election's voters.
      const unknown = entry.batchedWithPrevious === undefined
      voters = !unknown || checkSigners(entry, index, current, false) ? current : voters
    }
    checkSigners(entry, index, voters, true)
    state.applyChainEntry(entry)
    previousPosition = entry.position
  })
  if (options.minSeq !== undefined && state.seq < options.minSeq) {
    throw new MembershipError(
      'StaleChain',
      `chain of ${state.seq} membership blocks, we know ${options.minSeq}`,
    )
  }
  return state
}

/**
 * Whether the entry's proofs are valid votes of a supermajority of `voters`. A bad signature always
 * throws; with `strict`, so do a signer outside `voters` and too few signers.
 */
function checkSigners(
  entry: ChainEntry,
  index: number,
  voters: ReadonlySet<string>,
  strict: boolean,
): boolean {
  const signers = new Set<string>()
  for (const proof of entry.proofs) {
    if (!voters.has(proof.publicId.name)) {
      if (!strict) return false
      throw new MembershipError(
        'NotAVoter',
        `entry ${index} signed by ${proof.publicId.name}, not a voter then`,
      )
    }
    if (!proof.publicId.verify(proof.signature, entry.observation)) {
      throw new MembershipError('ForgedSignature', `entry ${index}: bad signature by ${proof.publicId.name}`)
    }
    signers.add(proof.publicId.name)
  }
  if (supermajority(voters.size, signers.size)) return true
  if (!strict) return false
  throw new MembershipError(
    'NoSupermajority',
    `entry ${index}: ${signers.size} signers of ${voters.size} voters`,
  )
}
