/**
 * Opening a LevelDB datastore for a peer without ever creating a store over an existing one.
 * LevelDB told to create a missing database treats a directory without its `CURRENT` file as
 * empty: it writes a fresh database and deletes every table file of the old one (a 49 MB store
 * became 1.3 MB). So a database is created only where the directory is absent or empty; a
 * non-empty directory without `CURRENT` is refused before LevelDB touches it.
 *
 * The store is a `PeerLevelDatastore`: a LevelDB datastore that can be reopened while the peer
 * runs (`reopen`), to roll the files LevelDB only ever appends to while a database is open: its
 * `LOG` (a line or more per flush and compaction, renamed `LOG.old` at the next open) and its
 * `MANIFEST` (an edit per flush and compaction, rewritten as one snapshot at the next open). A
 * store whose history is bounded (epochs, block retention) would otherwise grow by them forever
 * (0.77 MB and 0.36 MB after 700,000 events of `soak-live`). Every operation of the datastore (and
 * `run`, for those made on its `db` directly) goes through a gate: a reopen waits until none is in
 * progress, operations started meanwhile wait for it and then proceed in the order they came, so
 * none fails, is lost or reordered. A reopen that cannot start within its time limit (an iterator
 * held open by a reader that waits for something else) gives up, changing nothing.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { LevelDatastore } from 'datastore-level'
import type { Batch, Key, Pair } from 'interface-datastore'
import { SectionError } from './errors.js'

type AbortOptions = { signal?: AbortSignal }

/**
 * The LevelDB write buffer (memtable) of a peer's store: the write-ahead log (`*.log`) grows up to
 * about this much before it is flushed to a table. LevelDB's default, 4 MB, is most of a bounded
 * store's live size (about 4 MB at `soak-live`'s defaults), and the log swung between 0 and 4 MB.
 */
export const PEER_WRITE_BUFFER_BYTES = 1024 * 1024

/**
 * The size LevelDB cuts its tables at: the smallest it accepts (its default is 2 MB). A compaction
 * rewrites whole tables: the smaller they are, the less besides a run of deleted keys (storage.ts)
 * compacting the run rewrites.
 */
export const PEER_TABLE_FILE_BYTES = 1024 * 1024

export interface PeerLevelDatastoreOptions {
  /** LevelDB's write buffer (default `PEER_WRITE_BUFFER_BYTES`). */
  readonly writeBufferSize?: number
  /** The size of LevelDB's table files (default `PEER_TABLE_FILE_BYTES`). */
  readonly maxFileSize?: number
}

/** How long a reopen waits for the operations in progress before it gives up (ms). */
const REOPEN_WAIT_MS = 1000

/** A LevelDB datastore that can be reopened while in use (see above). */
export class PeerLevelDatastore extends LevelDatastore {
  /** Operations in progress (iterators until they end). */
  private active = 0
  /** Set while a reopen runs: operations started meanwhile wait for it. */
  private blocked: Promise<void> | undefined
  private onIdle: (() => void) | undefined
  private readonly openOptions: { createIfMissing: boolean; writeBufferSize: number; maxFileSize: number }
  /** Reopens done (for tests and diagnostics). */
  reopens = 0

  constructor(
    readonly path: string,
    createIfMissing: boolean,
    options: PeerLevelDatastoreOptions = {},
  ) {
    const writeBufferSize = options.writeBufferSize ?? PEER_WRITE_BUFFER_BYTES
    const maxFileSize = options.maxFileSize ?? PEER_TABLE_FILE_BYTES
    super(path, { createIfMissing, writeBufferSize, maxFileSize })
    // As `openLevelDatastore` first opens it, never creating a database.
    this.openOptions = { createIfMissing: false, writeBufferSize, maxFileSize }
  }

  /** Runs `operation` (one on `db`) through the gate: never while the store is being reopened. */
  async run<T>(operation: () => Promise<T>): Promise<T> {
    await this.enter()
    try {
      return await operation()
    } finally {
      this.leave()
    }
  }

  private async enter(): Promise<void> {
    while (this.blocked !== undefined) await this.blocked
    this.active++
  }

  private leave(): void {
    this.active--
    if (this.active === 0) this.onIdle?.()
  }

  override put(key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    return this.run(() => super.put(key, value, options))
  }

  override get(key: Key, options?: AbortOptions): Promise<Uint8Array> {
    return this.run(() => super.get(key, options))
  }

  override has(key: Key, options?: AbortOptions): Promise<boolean> {
    return this.run(() => super.has(key, options))
  }

  override delete(key: Key, options?: AbortOptions): Promise<void> {
    return this.run(() => super.delete(key, options))
  }

  override batch(): Batch {
    const batch = super.batch()
    return { ...batch, commit: (options?: AbortOptions) => this.run(async () => batch.commit(options)) }
  }

  override async *_query(opts: { values: boolean; prefix?: string }): AsyncIterable<Pair> {
    await this.enter()
    try {
      yield* super._query(opts)
    } finally {
      this.leave()
    }
  }

  override async close(): Promise<void> {
    while (this.blocked !== undefined) await this.blocked
    await super.close()
  }

  /** The bytes of the files LevelDB appends to until it is reopened: `LOG` and `MANIFEST-*`. */
  logBytes(): number {
    let total = 0
    let names: string[]
    try {
      names = readdirSync(this.path)
    } catch {
      return 0
    }
    for (const name of names) {
      if (name !== 'LOG' && !name.startsWith('MANIFEST-')) continue
      try {
        total += statSync(join(this.path, name)).size
      } catch {
        // Gone meanwhile (a new MANIFEST replaced it).
      }
    }
    return total
  }

  /**
   * Closes and opens the database, once no operation is in progress (see above). Resolves true
   * when it was reopened, false when it gave up waiting (nothing changed). Throws when the
   * database cannot be opened again (as a restart would find it).
   */
  async reopen(waitMs = REOPEN_WAIT_MS): Promise<boolean> {
    if (this.blocked !== undefined || this.db.status !== 'open') return false
    let release = () => {}
    this.blocked = new Promise<void>((resolve) => {
      release = resolve
    })
    try {
      if (this.active > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined
        const idle = await new Promise<boolean>((resolve) => {
          this.onIdle = () => resolve(true)
          timer = setTimeout(() => resolve(false), waitMs)
        })
        clearTimeout(timer)
        this.onIdle = undefined
        if (!idle) return false
      }
      await this.db.close()
      await this.db.open(this.openOptions)
      this.reopens++
      return true
    } finally {
      this.blocked = undefined
      release()
    }
  }
}

/**
 * Opens (or, where nothing is, creates) the LevelDB datastore in directory `path`. Throws
 * `StorageCorrupt` for a non-empty directory that is not a complete LevelDB store, changing
 * nothing; other failures (e.g. `LEVEL_LOCKED`: in use by another process) are thrown as LevelDB
 * reports them, as the error's `cause` when datastore-level wraps them.
 */
export async function openLevelDatastore(
  path: string,
  options: PeerLevelDatastoreOptions = {},
): Promise<PeerLevelDatastore> {
  const exists = existsSync(path) && readdirSync(path).length > 0
  if (exists && !existsSync(join(path, 'CURRENT'))) {
    throw new SectionError(
      'StorageCorrupt',
      `${path} holds files but no CURRENT file: it is a damaged LevelDB store (or not one); ` +
        'nothing was changed. Restore the directory from a backup, or move it away to start afresh',
    )
  }
  const datastore = new PeerLevelDatastore(path, !exists, options)
  try {
    // Opened directly first: datastore-level's open() drops the cause (e.g. locked).
    await datastore.db.open({ createIfMissing: !exists })
    await datastore.open()
  } catch (error) {
    await datastore.close().catch(() => {})
    throw error
  }
  return datastore
}
