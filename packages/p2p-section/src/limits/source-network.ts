/**
 * Which network a connection comes from, for limits per source: one attacker holds many addresses
 * of one network far more cheaply than addresses of many networks, so limits count per /24 of
 * IPv4 and per /48 of IPv6 (a site's usual allocation), not per address. An IPv4-mapped IPv6
 * address (`::ffff:192.0.2.1`, what a dual-stack listener sees) is its IPv4 address.
 */
import { tryGetNetConfig } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface IpHost {
  readonly family: 'ip4' | 'ip6'
  readonly address: string
}

/** Prefix lengths a source network is cut at, per family. */
export interface NetworkPrefixes {
  readonly ip4: number
  readonly ip6: number
}

/** Limits per source network: /24 for IPv4, /48 for IPv6. */
export const SOURCE_NETWORK_PREFIXES: NetworkPrefixes = { ip4: 24, ip6: 48 }

/** The IP address a multiaddr starts with; undefined for names (DNS) and non-IP transports. */
export function ipOf(addr: Multiaddr): IpHost | undefined {
  const config = tryGetNetConfig(addr)
  if (config === null || (config.type !== 'ip4' && config.type !== 'ip6')) return undefined
  return { family: config.type, address: config.host }
}

/** Dotted-quad IPv4 into `out` at `at`; false when it is not one. */
function readIpv4(text: string, out: Uint8Array, at: number): boolean {
  const parts = text.split('.')
  if (parts.length !== 4) return false
  for (let i = 0; i < 4; i++) {
    const part = parts[i]
    if (!/^\d{1,3}$/.test(part)) return false
    const value = Number(part)
    if (value > 255) return false
    out[at + i] = value
  }
  return true
}

/** Colon-separated 16-bit groups (an IPv4 tail allowed last) into `out`; their byte count, or -1. */
function readGroups(text: string, out: Uint8Array, allowIpv4Tail: boolean): number {
  if (text === '') return 0
  const groups = text.split(':')
  let at = 0
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i]
    if (allowIpv4Tail && i === groups.length - 1 && group.includes('.')) {
      if (at + 4 > 16 || !readIpv4(group, out, at)) return -1
      return at + 4
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(group) || at + 2 > 16) return -1
    const value = Number.parseInt(group, 16)
    out[at] = value >> 8
    out[at + 1] = value & 0xff
    at += 2
  }
  return at
}

/** An IPv6 address (`::`, an IPv4 tail and a `%zone` allowed) as 16 bytes; undefined when it is not one. */
function parseIpv6(text: string): Uint8Array | undefined {
  const zone = text.indexOf('%')
  const address = zone === -1 ? text : text.slice(0, zone)
  const halves = address.split('::')
  if (halves.length > 2) return undefined
  const bytes = new Uint8Array(16)
  if (halves.length === 1) return readGroups(address, bytes, true) === 16 ? bytes : undefined
  const head = new Uint8Array(16)
  const tail = new Uint8Array(16)
  const headLength = readGroups(halves[0], head, false)
  const tailLength = readGroups(halves[1], tail, true)
  // `::` stands for at least one group of zeros.
  if (headLength < 0 || tailLength < 0 || headLength + tailLength > 14) return undefined
  bytes.set(head.subarray(0, headLength), 0)
  bytes.set(tail.subarray(0, tailLength), 16 - tailLength)
  return bytes
}

/** Whether 16 bytes are an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). */
function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false
  return bytes[10] === 0xff && bytes[11] === 0xff
}

/**
 * An IP address as bytes: 4 for IPv4 (an IPv4-mapped IPv6 address included), 16 for IPv6;
 * undefined when the text is not an IP address.
 */
export function parseIp(text: string): Uint8Array | undefined {
  if (!text.includes(':')) {
    const bytes = new Uint8Array(4)
    return readIpv4(text, bytes, 0) ? bytes : undefined
  }
  const bytes = parseIpv6(text)
  if (bytes === undefined) return undefined
  return isIpv4Mapped(bytes) ? bytes.slice(12) : bytes
}

/** The first `bits` bits of an address, the rest zeroed, as `network/bits` (IPv6 groups uncompressed). */
function networkText(bytes: Uint8Array, bits: number): string {
  const prefix = Math.max(0, Math.min(bits, bytes.length * 8))
  const masked = Uint8Array.from(bytes, (byte, i) => {
    const kept = Math.max(0, Math.min(8, prefix - i * 8))
    return byte & ((0xff << (8 - kept)) & 0xff)
  })
  if (masked.length === 4) return `${masked.join('.')}/${prefix}`
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((masked[i] << 8) | masked[i + 1]).toString(16))
  return `${groups.join(':')}/${prefix}`
}

/**
 * The source network of an address (a multiaddr, or an IP address as text), as a key for limits:
 * e.g. `192.0.2.0/24`, `2001:db8:1:0:0:0:0:0/48`. Undefined for names (DNS), non-IP transports and
 * text that is not an IP address.
 */
export function sourceNetwork(
  source: Multiaddr | string,
  prefixes: NetworkPrefixes = SOURCE_NETWORK_PREFIXES,
): string | undefined {
  const address = typeof source === 'string' ? source : ipOf(source)?.address
  if (address === undefined) return undefined
  const bytes = parseIp(address)
  if (bytes === undefined) return undefined
  return networkText(bytes, bytes.length === 4 ? prefixes.ip4 : prefixes.ip6)
}
