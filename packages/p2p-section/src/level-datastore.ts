/**
 * Opening a LevelDB datastore for a peer without ever creating a store over an existing one.
 * LevelDB told to create a missing database treats a directory without its `CURRENT` file as
 * empty: it writes a fresh database and deletes every table file of the old one (a 49 MB store
 * became 1.3 MB). So a database is created only where the directory is absent or empty; a
 * non-empty directory without `CURRENT` is refused before LevelDB touches it.
 */
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { LevelDatastore } from 'datastore-level'
import { SectionError } from './errors.js'

/**
 * Opens (or, where nothing is, creates) the LevelDB datastore in directory `path`. Throws
 * `StorageCorrupt` for a non-empty directory that is not a complete LevelDB store, changing
 * nothing; other failures (e.g. `LEVEL_LOCKED`: in use by another process) are thrown as LevelDB
 * reports them, as the error's `cause` when datastore-level wraps them.
 */
export async function openLevelDatastore(path: string): Promise<LevelDatastore> {
  const exists = existsSync(path) && readdirSync(path).length > 0
  if (exists && !existsSync(join(path, 'CURRENT'))) {
    throw new SectionError(
      'StorageCorrupt',
      `${path} holds files but no CURRENT file: it is a damaged LevelDB store (or not one); ` +
        'nothing was changed. Restore the directory from a backup, or move it away to start afresh',
    )
  }
  const datastore = new LevelDatastore(path, { createIfMissing: !exists })
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
