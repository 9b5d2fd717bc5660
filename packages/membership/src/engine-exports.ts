/** The few parsec-core items membership uses, in one place (membership reads only the public API). */
export type {
  Block,
  ConsensusMode,
  IdentityScheme,
  Observation,
  Proof,
  PublicId,
  SecretId,
} from '@parsec-section/parsec-core'
export {
  checkpoint,
  compareIds,
  ed25519Id,
  encodeObservation,
  mockId,
  sortIds,
  toHex,
  utf8,
} from '@parsec-section/parsec-core'

/** Constant-shape byte equality (parsec-core keeps its own helper internal). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
