/**
 * The reference's mock identity (spec §1.4), used by every recorded graph: both keys are
 * SHA3-256(utf8(name)); a signature is SipHash-1-3 over (data ‖ key), little-endian, padded with
 * 24 zero bytes. Ids order by their name bytes.
 */
import type { BincodeReader } from '../encoding/bincode.js'
import { BincodeWriter } from '../encoding/bincode.js'
import { bytesEqual, fromUtf8, utf8 } from '../encoding/bytes.js'
import { sha3 } from '../encoding/hash.js'
import { sipHash13 } from '../encoding/siphash.js'
import { ParsecError } from '../errors.js'
import type { IdentityScheme, PublicId, SecretId } from './identity.js'

export const MOCK_SIGNATURE_LENGTH = 32

function mockSign(key: Uint8Array, data: Uint8Array): Uint8Array {
  const signature = new Uint8Array(MOCK_SIGNATURE_LENGTH)
  signature.set(sipHash13([data, key]))
  return signature
}

export class MockPublicId implements PublicId {
  readonly encoded: Uint8Array
  readonly orderKey: Uint8Array
  readonly key: Uint8Array

  constructor(readonly name: string) {
    this.orderKey = utf8(name)
    this.key = sha3(this.orderKey)
    this.encoded = new BincodeWriter(this.orderKey.length + 72)
      .bytes(this.orderKey)
      .raw(this.key)
      .raw(this.key)
      .finish()
  }

  verify(signature: Uint8Array, data: Uint8Array): boolean {
    if (signature.length !== MOCK_SIGNATURE_LENGTH) return false
    const expected = sipHash13([data, this.key])
    for (let i = 0; i < 8; i++) if (signature[i] !== expected[i]) return false
    return true
  }

  toString(): string {
    return this.name
  }
}

export class MockSecretId implements SecretId {
  readonly publicId: MockPublicId

  constructor(name: string | MockPublicId) {
    this.publicId = typeof name === 'string' ? mockId(name) : name
  }

  sign(data: Uint8Array): Uint8Array {
    return mockSign(this.publicId.key, data)
  }
}

const interned = new Map<string, MockPublicId>()

/** One shared instance per name, so ids can be compared by reference. */
export function mockId(name: string): MockPublicId {
  let id = interned.get(name)
  if (id === undefined) {
    id = new MockPublicId(name)
    interned.set(name, id)
  }
  return id
}

export const mockScheme: IdentityScheme = {
  name: 'mock',
  signatureLength: MOCK_SIGNATURE_LENGTH,
  readId(reader: BincodeReader): PublicId {
    const nameBytes = reader.bytes()
    let name: string
    try {
      name = fromUtf8(nameBytes)
    } catch {
      throw new ParsecError('InvalidMessage', 'mock id is not valid utf-8')
    }
    const publicKey = reader.raw(32)
    const secretKey = reader.raw(32)
    const id = mockId(name)
    if (!bytesEqual(publicKey, id.key) || !bytesEqual(secretKey, id.key)) {
      throw new ParsecError('InvalidMessage', `mock id ${name} carries wrong keys`)
    }
    return id
  },
}
