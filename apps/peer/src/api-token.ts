/**
 * Bearer tokens of the control API: a token file holds one token (surrounding whitespace and the
 * final newline are ignored). `parsec-peer start --api-token FILE` requires it on every request;
 * the commands that call the API read the same file.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { UsageError } from './args.js'

/** Visible ASCII: what a bearer token can carry in an HTTP header without escaping. */
const TOKEN = /^[\x21-\x7e]+$/

/** Reads a token file; a `UsageError` (exit 2) if it is unreadable, empty or not one printable word. */
export function readApiTokenFile(path: string, option = '--api-token'): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new UsageError(
      `${option}: cannot read the token file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    )
  }
  const token = text.trim()
  if (token === '') throw new UsageError(`${option}: the token file ${path} is empty`)
  if (!TOKEN.test(token)) {
    throw new UsageError(
      `${option}: the token in ${path} must be one word of printable ASCII (no spaces or control characters)`,
    )
  }
  return token
}

/** Writes a new random token (256 bits, base64url) to `path` with mode 0600; returns it. */
export function writeNewApiTokenFile(path: string): string {
  const token = randomBytes(32).toString('base64url')
  writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' })
  return token
}
