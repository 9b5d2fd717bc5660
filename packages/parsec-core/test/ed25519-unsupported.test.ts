/**
 * Where libsodium's prebuilt binding cannot load (a platform sodium-native has no binary for), the
 * engine still loads and the mock identity works; the first Ed25519 key is a typed `Unsupported`.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

/** A preload that makes `require('sodium-native')` fail as a missing module does. */
const HIDE_SODIUM = `
const Module = require('node:module')
const resolve = Module._resolveFilename
Module._resolveFilename = function (request, ...rest) {
  if (request === 'sodium-native') {
    const error = new Error("Cannot find module 'sodium-native' (hidden by the test)")
    error.code = 'MODULE_NOT_FOUND'
    throw error
  }
  return resolve.call(this, request, ...rest)
}
`

describe('Ed25519 without libsodium', () => {
  it('mock identities work; an Ed25519 key throws ParsecError Unsupported, naming the binding', () => {
    const dir = mkdtempSync(join(tmpdir(), 'parsec-no-sodium-'))
    try {
      const preload = join(dir, 'hide-sodium.cjs')
      writeFileSync(preload, HIDE_SODIUM)
      const index = fileURLToPath(new URL('../src/index.js', import.meta.url))
      const script = `
        const { Ed25519SecretId, MockSecretId, isParsecError } = await import(${JSON.stringify(index)})
        const mock = new MockSecretId('Alice')
        const signature = mock.sign(new Uint8Array([1, 2, 3]))
        const result = { mockVerifies: mock.publicId.verify(signature, new Uint8Array([1, 2, 3])) }
        try {
          Ed25519SecretId.generate()
          result.ed25519 = 'created'
        } catch (error) {
          result.ed25519 = isParsecError(error) ? error.code : String(error)
          result.message = error.message
        }
        console.log(JSON.stringify(result))
      `
      const run = spawnSync(process.execPath, ['--require', preload, '--input-type=module', '-e', script], {
        encoding: 'utf8',
      })
      assert.equal(run.status, 0, run.stderr)
      const result = JSON.parse(run.stdout) as { mockVerifies: boolean; ed25519: string; message?: string }
      assert.equal(result.mockVerifies, true)
      assert.equal(result.ed25519, 'Unsupported')
      assert.match(result.message ?? '', /sodium-native/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
