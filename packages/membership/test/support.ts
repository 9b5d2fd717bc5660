/** Builders shared by the membership tests: mock identities, signed blocks, a seeded RNG. */
import {
  type Block,
  encodeObservation,
  MockSecretId,
  mockId,
  type Observation,
  type Proof,
  sortIds,
} from '@parsec-section/parsec-core'

export const NAMES = [
  'Alice',
  'Bob',
  'Carol',
  'Dave',
  'Eric',
  'Fred',
  'Gina',
  'Hank',
  'Iris',
  'Judy',
  'Kate',
  'Liam',
]

export const ids = (names: readonly string[]) => names.map(mockId)

/** A block for `payload` with a valid vote from each of `signers`. */
export function signedBlock(payload: Observation, signers: readonly string[]): Block {
  const encoded = encodeObservation(payload)
  const proofs: Proof[] = sortIds(signers.map(mockId)).map((id) => ({
    publicId: id,
    signature: new MockSecretId(id).sign(encoded),
  }))
  return { payload, proofs }
}

/** Mulberry32: a tiny seeded PRNG, `() => [0, 1)`. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
