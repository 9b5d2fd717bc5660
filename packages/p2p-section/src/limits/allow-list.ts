/**
 * libp2p's connection-manager allow list, made to follow the agreed members' hosts.
 *
 * Before an inbound connection's handshake, only its address is known. libp2p 3 then checks its
 * allow list: a connection from an address on it skips the pending-handshake cap, the per-host
 * rate limit and the connection limit, and the pruner never closes it. The list is given as
 * multiaddrs when the node is made and libp2p offers no way to change it, yet members come and go.
 * Peer-store tags (keep-alive, peer-tags.ts) cover pruning once a connection is identified, not
 * these checks before it. So the connection manager's list (`allow`, read on every inbound
 * connection) and the pruner's (`connectionPruner.allow`) get one entry of ours in place of the
 * static ones: libp2p only calls `contains(host)` on an entry, and ours asks the current members'
 * hosts. Both are plain fields of libp2p 3's `DefaultConnectionManager` (not its typed interface):
 * if an upgrade renames them this returns false, the static list given at creation stays (the
 * genesis hosts), and test/allow-list.test.ts fails.
 */

/** What libp2p asks of an allow-list entry: whether a host (an IP address string) is on it. */
export interface HostMatcher {
  contains(host: string): boolean
}

/**
 * Replaces libp2p's allow lists (the connection manager's and its pruner's) with one entry that
 * asks `allowed`; whether both lists were found and replaced.
 */
export function followAllowList(connectionManager: unknown, allowed: (host: string) => boolean): boolean {
  const lists = [allowListOf(connectionManager), allowListOf(fieldOf(connectionManager, 'connectionPruner'))]
  if (lists.some((list) => list === undefined)) return false
  const entry: HostMatcher = { contains: (host) => allowed(host) }
  for (const list of lists) list?.splice(0, list.length, entry)
  return true
}

function fieldOf(owner: unknown, name: string): unknown {
  return typeof owner === 'object' && owner !== null ? (owner as Record<string, unknown>)[name] : undefined
}

function allowListOf(owner: unknown): unknown[] | undefined {
  const list = fieldOf(owner, 'allow')
  return Array.isArray(list) ? list : undefined
}
