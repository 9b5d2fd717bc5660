/**
 * Key files: a libp2p Ed25519 identity as JSON, `{"peerId": "12D3Koo...", "privateKey": "<base64
 * of privateKeyToProtobuf>"}`, written with mode 0600 and never overwritten. Member files (what a
 * genesis is built from) are `{"peerId", "addrs"}` without the private key.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { UsageError } from './args.js'

export interface KeyFile {
  readonly peerId: string
  /** Base64 of `privateKeyToProtobuf(key)`. */
  readonly privateKey: string
}

export interface Identity {
  readonly privateKey: PrivateKey
  readonly peerId: PeerId
}

/** A member of a genesis to be: a peer id and its addresses (multiaddr strings). */
export interface MemberEntry {
  readonly peerId: PeerId
  readonly addrs: readonly string[]
}

export async function generateIdentity(): Promise<Identity> {
  const privateKey = await generateKeyPair('Ed25519')
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey) }
}

export function keyFileOf(identity: Identity): KeyFile {
  return {
    peerId: identity.peerId.toString(),
    privateKey: Buffer.from(privateKeyToProtobuf(identity.privateKey)).toString('base64'),
  }
}

/** Writes a key file (mode 0600); a `UsageError` if the file exists or cannot be written. */
export function writeKeyFile(path: string, identity: Identity): void {
  try {
    writeFileSync(path, `${JSON.stringify(keyFileOf(identity), null, 2)}\n`, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new UsageError(`${path} already exists; refusing to overwrite a key file`)
    throw new UsageError(`cannot write ${path}: ${code ?? (error as Error).message}`)
  }
}

export function readJsonFile(path: string, what: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new UsageError(
      `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    )
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new UsageError(`${what} ${path} is not valid JSON`)
  }
}

/** What a JSON file looks like, to say so when it is given where another kind belongs. */
export function fileKind(json: unknown): 'genesis' | 'key' | 'member' | undefined {
  const file = json as Record<string, unknown> | null
  if (file === null || typeof file !== 'object' || Array.isArray(file)) return undefined
  if (Array.isArray(file.members)) return 'genesis'
  if (file.privateKey !== undefined) return 'key'
  if (file.peerId !== undefined) return 'member'
  return undefined
}

/** Parses the JSON of a key file; `where` names it in error messages. */
export function parseKeyFile(json: unknown, where: string): Identity {
  if (fileKind(json) === 'genesis')
    throw new UsageError(
      `${where} is a genesis file (it lists "members"), not a key file: give it as --genesis`,
    )
  if (fileKind(json) === 'member')
    throw new UsageError(`${where} is a member file (a peer id without its private key), not a key file`)
  const file = json as Partial<KeyFile> | null
  if (file === null || typeof file !== 'object' || Array.isArray(file)) {
    throw new UsageError(`${where} must hold a JSON object {"peerId", "privateKey"}`)
  }
  if (typeof file.privateKey !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(file.privateKey)) {
    throw new UsageError(`${where}: "privateKey" must be a base64 string`)
  }
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(Buffer.from(file.privateKey, 'base64'))
  } catch (error) {
    throw new UsageError(`${where}: "privateKey" is not a libp2p private key (${(error as Error).message})`)
  }
  if (privateKey.type !== 'Ed25519') {
    throw new UsageError(`${where}: the key must be Ed25519, not ${privateKey.type}`)
  }
  const peerId = peerIdFromPrivateKey(privateKey)
  if (file.peerId !== undefined && file.peerId !== peerId.toString()) {
    throw new UsageError(
      `${where}: "peerId" ${String(file.peerId)} does not match the private key (${peerId})`,
    )
  }
  return { privateKey, peerId }
}

export function readKeyFile(path: string): Identity {
  return parseKeyFile(readJsonFile(path, 'key file'), `key file ${path}`)
}

/** Reads a key file or a member file `{"peerId", "addrs"}` as a genesis member. */
export function readMemberFile(path: string): MemberEntry {
  const json = readJsonFile(path, 'member file')
  if (fileKind(json) === 'genesis') {
    throw new UsageError(
      `${path} is a genesis file (it lists "members"), not a key or member file: a genesis is built from its members' key or member files`,
    )
  }
  const file = json as { peerId?: unknown; privateKey?: unknown; addrs?: unknown } | null
  if (file === null || typeof file !== 'object' || Array.isArray(file)) {
    throw new UsageError(`${path} must hold a key file or a member file {"peerId", "addrs"}`)
  }
  const addrs = file.addrs ?? []
  if (!Array.isArray(addrs) || addrs.some((a) => typeof a !== 'string')) {
    throw new UsageError(`${path}: "addrs" must be an array of multiaddr strings`)
  }
  if (file.privateKey !== undefined) return { peerId: parseKeyFile(json, path).peerId, addrs }
  if (typeof file.peerId !== 'string') throw new UsageError(`${path}: "peerId" must be a string`)
  let peerId: PeerId
  try {
    peerId = peerIdFromString(file.peerId)
  } catch {
    throw new UsageError(`${path}: ${JSON.stringify(file.peerId)} is not a peer id`)
  }
  if (peerId.type !== 'Ed25519')
    throw new UsageError(`${path}: peer ${file.peerId} is not an Ed25519 identity`)
  return { peerId, addrs }
}

export function sameIdentity(a: Identity, b: Identity): boolean {
  return a.peerId.equals(b.peerId) && Buffer.from(a.privateKey.raw).equals(Buffer.from(b.privateKey.raw))
}
