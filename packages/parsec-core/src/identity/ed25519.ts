/**
 * A real Ed25519 identity on node's crypto (OpenSSL, RFC 8032 verification). The public id
 * serialises as the 32-byte public key and orders by those bytes; parsed keys are cached on the id
 * so each peer's key is parsed once.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto'
import type { BincodeReader } from '../encoding/bincode.js'
import { toHex } from '../encoding/bytes.js'
import { ParsecError } from '../errors.js'
import type { IdentityScheme, PublicId, SecretId } from './identity.js'

export const ED25519_PUBLIC_KEY_LENGTH = 32
export const ED25519_SIGNATURE_LENGTH = 64

const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
])

function concat(a: Uint8Array, b: Uint8Array): Buffer {
  return Buffer.concat([a, b])
}

export class Ed25519PublicId implements PublicId {
  readonly name: string
  readonly encoded: Uint8Array
  readonly orderKey: Uint8Array
  private keyObject: KeyObject | undefined

  constructor(readonly publicKey: Uint8Array) {
    if (publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) {
      throw new ParsecError('InvalidArgument', `an Ed25519 public key has 32 bytes, not ${publicKey.length}`)
    }
    this.encoded = publicKey
    this.orderKey = publicKey
    this.name = toHex(publicKey)
  }

  private key(): KeyObject {
    this.keyObject ??= createPublicKey({
      key: concat(SPKI_PREFIX, this.publicKey),
      format: 'der',
      type: 'spki',
    })
    return this.keyObject
  }

  verify(signature: Uint8Array, data: Uint8Array): boolean {
    if (signature.length !== ED25519_SIGNATURE_LENGTH) return false
    try {
      return verify(null, data, this.key(), signature)
    } catch {
      return false
    }
  }

  toString(): string {
    return this.name
  }
}

export class Ed25519SecretId implements SecretId {
  readonly publicId: Ed25519PublicId
  private readonly privateKey: KeyObject

  /** From a 32-byte seed (the raw private key). */
  constructor(seed: Uint8Array) {
    this.privateKey = createPrivateKey({ key: concat(PKCS8_PREFIX, seed), format: 'der', type: 'pkcs8' })
    const spki = createPublicKey(this.privateKey).export({ format: 'der', type: 'spki' })
    this.publicId = ed25519Id(new Uint8Array(spki.subarray(SPKI_PREFIX.length)))
  }

  static generate(): Ed25519SecretId {
    const { privateKey } = generateKeyPairSync('ed25519')
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' })
    return new Ed25519SecretId(new Uint8Array(pkcs8.subarray(PKCS8_PREFIX.length)))
  }

  sign(data: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, data, this.privateKey))
  }
}

const cache = new Map<string, Ed25519PublicId>()
const CACHE_LIMIT = 4096

/** Cached per key so each peer's key is parsed once; the cache is bounded against hostile input. */
export function ed25519Id(publicKey: Uint8Array): Ed25519PublicId {
  const hex = toHex(publicKey)
  let id = cache.get(hex)
  if (id === undefined) {
    id = new Ed25519PublicId(Uint8Array.from(publicKey))
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string)
    cache.set(hex, id)
  }
  return id
}

export const ed25519Scheme: IdentityScheme = {
  name: 'ed25519',
  signatureLength: ED25519_SIGNATURE_LENGTH,
  readId(reader: BincodeReader): PublicId {
    return ed25519Id(reader.raw(ED25519_PUBLIC_KEY_LENGTH))
  },
}
