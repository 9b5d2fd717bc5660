/**
 * The section a joined peer belongs to, kept in its data directory (`DIR/section.json`, beside
 * `identity.json`): written when `start --join` first runs with that directory, so that a restart
 * with `--data-dir DIR` alone knows which section to resume (the datastore's records are keyed by
 * the section id). Founders have no such file: they resume from `--genesis`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { UsageError } from './args.js'

const SECTION_ID = /^[0-9a-fA-F]{64}$/

/** `--join SECTION_ID`: 64 hex characters (returned lowercase, as section ids are written). */
export function parseSectionId(text: string, option: string): string {
  if (!SECTION_ID.test(text)) {
    throw new UsageError(`${option} takes a section id (64 hex characters), not '${text}'`)
  }
  return text.toLowerCase()
}

export function sectionFilePath(dataDir: string): string {
  return join(dataDir, 'section.json')
}

/** The section id the data directory was joined to, or undefined when it holds no section file. */
export function readSectionFile(dataDir: string): string | undefined {
  const path = sectionFilePath(dataDir)
  if (!existsSync(path)) return undefined
  let sectionId: unknown
  try {
    sectionId = (JSON.parse(readFileSync(path, 'utf8')) as { sectionId?: unknown }).sectionId
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`)
  }
  if (typeof sectionId !== 'string' || !SECTION_ID.test(sectionId)) {
    throw new UsageError(`${path} holds no section id ({"sectionId": "<64 hex characters>"})`)
  }
  return sectionId.toLowerCase()
}

/** Records the section joined (once: an existing file is kept). */
export function writeSectionFile(dataDir: string, sectionId: string): void {
  const path = sectionFilePath(dataDir)
  if (existsSync(path)) return
  writeFileSync(path, `${JSON.stringify({ sectionId }, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
}
