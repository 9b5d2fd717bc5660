/** Size limits checked while decoding, before anything is allocated (spec §5: cheap checks first). */
export const LIMITS = {
  /** Any message but JoinInfo. */
  maxMessageBytes: 64 * 1024,
  /** JoinInfo carries the whole membership chain with its proofs. */
  maxJoinInfoBytes: 64 * 1024 * 1024,
  maxIdBytes: 1024,
  maxSignatureBytes: 256,
  maxHashBytes: 64,
  maxRelatedInfoBytes: 64 * 1024,
  maxObservationBytes: 1024 * 1024,
  maxAddrs: 16,
  maxAddrBytes: 256,
  maxGroup: 1024,
  maxProofs: 1024,
  maxChainEntries: 1_000_000,
  maxNonceBytes: 64,
  maxReasonBytes: 256,
} as const
