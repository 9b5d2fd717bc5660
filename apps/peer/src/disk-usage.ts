/**
 * The bytes a directory takes on disk, as `du` counts them: the blocks allocated to it and to every
 * file and directory below it (`st_blocks` × 512), not the files' apparent lengths. Entries that
 * vanish during the walk (a LevelDB compaction removing a table) are skipped, not an error.
 */
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'

function vanished(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT'
}

export async function diskUsage(path: string): Promise<number> {
  let stats: Awaited<ReturnType<typeof lstat>>
  try {
    stats = await lstat(path)
  } catch (error) {
    if (vanished(error)) return 0
    throw error
  }
  let total = stats.blocks * 512
  if (!stats.isDirectory()) return total
  let names: string[]
  try {
    names = await readdir(path)
  } catch (error) {
    if (vanished(error)) return total
    throw error
  }
  for (const name of names) total += await diskUsage(join(path, name))
  return total
}
