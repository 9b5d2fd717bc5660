/**
 * A lab of Linux network namespaces for system tests (root and iproute2 needed): N host namespaces,
 * each with one veth interface and its own address from a documentation range (TEST-NET), joined by
 * a bridge that lives in a namespace of its own. Nothing is created in, or changed on, the host's own
 * namespace: every `ip` command runs with `-n NAMESPACE`.
 *
 * Names carry the prefix `pst`, a random run id and (for namespaces) the owner's pid:
 * namespaces `pst-RUNID-PID-br` and `pst-RUNID-PID-nI`, interfaces `pstRUNIDb`, `pstRUNIDvI` (bridge
 * side) and `pstRUNIDeI` (host side), at most 13 characters (the kernel's limit is 15). Namespaces
 * left by an earlier run whose owner is dead are removed before a new lab is built; the lab removes
 * its own on `close()`, on process exit (an uncaught exception included) and on SIGINT/SIGTERM.
 *
 * ```ts
 * const lab = NetnsLab.create({ hosts: 4 })
 * try {
 *   const child = lab.spawn(0, process.execPath, ['server.js']) // inside host 0's namespace
 *   ...
 * } finally {
 *   await lab.close() // stops the children, deletes the namespaces
 * }
 * ```
 */
import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'

/** The prefix of every namespace and interface a lab creates. */
export const LAB_PREFIX = 'pst'

/** The documentation ranges of RFC 5737 a lab may use (/24 each). */
export type TestNet = '192.0.2' | '198.51.100'

export interface NetnsLabOptions {
  readonly hosts: number
  /** The /24 the hosts' addresses come from (default 192.0.2, TEST-NET-1). */
  readonly subnet?: TestNet
}

export interface LabHost {
  readonly index: number
  readonly namespace: string
  readonly iface: string
  /** The host's IPv4 address (e.g. 192.0.2.10), on a /24 shared with the other hosts. */
  readonly address: string
}

const FIRST_ADDRESS = 10
const MAX_HOSTS = 100
const STOP_TIMEOUT_MS = 3000
const KILL_WAIT_MS = 5000
/** A lab namespace: prefix, run id, owner pid. */
const LAB_NAMESPACE = new RegExp(`^${LAB_PREFIX}-([0-9a-f]{6})-(\\d+)-`)

/** Why this process cannot build a lab (not root, no `ip`), or undefined if it can. */
export function labUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root'
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' })
  } catch {
    return "the 'ip' command (Debian package iproute2) is not installed"
  }
  return undefined
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** The names of the network namespaces (`ip netns list`). */
export function listNamespaces(): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => name !== '')
}

/** The names of the interfaces of the host's own namespace. */
export function listHostInterfaces(): string[] {
  return ip('-o', 'link', 'show')
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The pids of the processes in `namespace` (none if it does not exist). */
function namespacePids(namespace: string): number[] {
  try {
    return ip('netns', 'pids', namespace)
      .split('\n')
      .filter((pid) => pid !== '')
      .map(Number)
  } catch {
    return []
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/**
 * Kills what still runs in `namespace`, waits (synchronously, for exit handlers) until nothing does,
 * and deletes it. With no process left in it, deleting its name frees it, and its veth ends (and
 * their peers in other namespaces) go with it.
 */
function deleteNamespace(namespace: string): void {
  const deadline = Date.now() + KILL_WAIT_MS
  for (let pids = namespacePids(namespace); pids.length > 0; pids = namespacePids(namespace)) {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    }
    if (Date.now() >= deadline) break
    sleepSync(20)
  }
  try {
    ip('netns', 'delete', namespace)
  } catch {
    // Already deleted.
  }
}

/** Removes the namespaces of earlier labs whose owner process is gone; returns their names. */
export function removeStaleLabs(): string[] {
  const stale = listNamespaces().filter((name) => {
    const match = LAB_NAMESPACE.exec(name)
    return match !== null && !isAlive(Number(match[2]))
  })
  for (const name of stale) deleteNamespace(name)
  return stale
}

export class NetnsLab {
  readonly runId: string
  readonly hosts: readonly LabHost[]
  readonly bridgeNamespace: string
  private readonly namespaces: string[] = []
  private readonly children = new Set<ChildProcess>()
  private closed = false
  private readonly onExit = () => this.closeNow()
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.closeNow()
    // Then die of the signal as if we had not caught it (unless someone else handles it too).
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  }

  private constructor(options: NetnsLabOptions) {
    if (!Number.isInteger(options.hosts) || options.hosts < 1 || options.hosts > MAX_HOSTS) {
      throw new RangeError(`hosts must be an integer from 1 to ${MAX_HOSTS}`)
    }
    const taken = new Set(listNamespaces().map((name) => LAB_NAMESPACE.exec(name)?.[1]))
    do this.runId = randomBytes(3).toString('hex')
    while (taken.has(this.runId))
    const base = `${LAB_PREFIX}-${this.runId}-${process.pid}`
    const subnet = options.subnet ?? '192.0.2'
    this.bridgeNamespace = `${base}-br`
    this.hosts = Array.from({ length: options.hosts }, (_, index) => ({
      index,
      namespace: `${base}-n${index}`,
      iface: `${this.interfacePrefix}e${index}`,
      address: `${subnet}.${FIRST_ADDRESS + index}`,
    }))
  }

  /** The prefix of this run's interface names (`pstRUNID`). */
  get interfacePrefix(): string {
    return `${LAB_PREFIX}${this.runId}`
  }

  /** The prefix of this run's namespace names (`pst-RUNID-`). */
  get namespacePrefix(): string {
    return `${LAB_PREFIX}-${this.runId}-`
  }

  /** Removes stale labs, then builds this one; on any failure removes what it built and throws. */
  static create(options: NetnsLabOptions): NetnsLab {
    const unavailable = labUnavailable()
    if (unavailable !== undefined) throw new Error(`cannot build a network namespace lab: ${unavailable}`)
    removeStaleLabs()
    const lab = new NetnsLab(options)
    process.on('exit', lab.onExit)
    process.on('SIGINT', lab.onSignal)
    process.on('SIGTERM', lab.onSignal)
    try {
      lab.build()
    } catch (error) {
      lab.closeNow()
      throw error
    }
    return lab
  }

  private addNamespace(name: string): void {
    // Recorded first: a half-made namespace is removed too.
    this.namespaces.push(name)
    ip('netns', 'add', name)
    ip('-n', name, 'link', 'set', 'lo', 'up')
  }

  private build(): void {
    const bridge = `${this.interfacePrefix}b`
    this.addNamespace(this.bridgeNamespace)
    ip('-n', this.bridgeNamespace, 'link', 'add', bridge, 'type', 'bridge')
    ip('-n', this.bridgeNamespace, 'link', 'set', bridge, 'up')
    for (const host of this.hosts) {
      const bridgeSide = `${this.interfacePrefix}v${host.index}`
      this.addNamespace(host.namespace)
      // Made in the bridge's namespace, the other end moved straight into the host's.
      ip(
        '-n',
        this.bridgeNamespace,
        'link',
        'add',
        bridgeSide,
        'type',
        'veth',
        'peer',
        'name',
        host.iface,
        'netns',
        host.namespace,
      )
      ip('-n', this.bridgeNamespace, 'link', 'set', bridgeSide, 'master', bridge, 'up')
      ip('-n', host.namespace, 'addr', 'add', `${host.address}/24`, 'dev', host.iface)
      ip('-n', host.namespace, 'link', 'set', host.iface, 'up')
    }
  }

  /** Runs `command` inside host `index`'s namespace (`ip netns exec`); stopped on close. */
  spawn(index: number, command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    if (this.closed) throw new Error('the lab is closed')
    const host = this.hosts[index]
    if (host === undefined) throw new RangeError(`no host ${index}`)
    const child = spawn('ip', ['netns', 'exec', host.namespace, command, ...args], options)
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
    child.once('error', () => this.children.delete(child))
    return child
  }

  /** This run's namespaces and host interfaces that still exist (empty once closed). */
  leftovers(): { namespaces: string[]; interfaces: string[] } {
    return {
      namespaces: listNamespaces().filter((name) => name.startsWith(this.namespacePrefix)),
      interfaces: listHostInterfaces().filter((name) => name.startsWith(this.interfacePrefix)),
    }
  }

  /** Stops the children (SIGTERM, SIGKILL after 3 s), then deletes the namespaces. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return
    await Promise.all(
      [...this.children].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve()
            const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
            child.once('exit', () => {
              clearTimeout(timer)
              resolve()
            })
            child.kill('SIGTERM')
          }),
      ),
    )
    this.closeNow()
  }

  /** Synchronous (exit and signal handlers): SIGKILLs what runs in the namespaces and deletes them. */
  closeNow(): void {
    if (this.closed) return
    this.closed = true
    for (const child of this.children) child.kill('SIGKILL')
    for (const name of this.namespaces.reverse()) deleteNamespace(name)
    process.off('exit', this.onExit)
    process.off('SIGINT', this.onSignal)
    process.off('SIGTERM', this.onSignal)
  }
}
