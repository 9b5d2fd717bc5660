/**
 * What the packages promise an application that installs them: importing one changes no global
 * (libp2p 3's `Promise.withResolvers` is an opt-in polyfill for Node 20, and a node made without
 * it fails with one clear error), p2p-section's README holds the example CI runs after installing
 * the packed packages, and `parsec-peer --version` prints apps/peer's version. Each
 * check runs in a child process, so this process's globals cannot hide a change.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = new URL('../../../', import.meta.url)
const entry = (path: string): string => new URL(path, ROOT).href
const ENTRIES = [
  'packages/parsec-core/dist/src/index.js',
  'packages/parsec-core/dist/src/dot/index.js',
  'packages/membership/dist/src/index.js',
  'packages/simulation/dist/src/index.js',
  'packages/p2p-section/dist/src/index.js',
].map(entry)
const BIN = fileURLToPath(new URL('apps/peer/bin/parsec-peer.js', ROOT))

/** Runs an ES module's source in a fresh node; its last line of stdout, parsed as JSON. */
function runModule(source: string): unknown {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', source], {
    encoding: 'utf8',
    timeout: 30_000,
  })
  assert.equal(run.status, 0, `child failed: ${run.stderr}`)
  return JSON.parse(run.stdout.trim().split('\n').at(-1) ?? 'null')
}

describe('the packages as an application imports them', () => {
  it('importing every entry point changes no global', () => {
    const result = runModule(`
      // As on Node 20, whatever this node is: the packages must not put it back.
      delete Promise.withResolvers
      const names = () => ({
        global: Object.getOwnPropertyNames(globalThis).sort(),
        promise: Object.getOwnPropertyNames(Promise).sort(),
      })
      const before = names()
      for (const path of ${JSON.stringify(ENTRIES)}) await import(path)
      console.log(JSON.stringify({ before, after: names() }))
    `) as { before: unknown; after: unknown }
    assert.deepEqual(result.after, result.before)
  })

  it('without Promise.withResolvers a node fails with one clear error; the polyfill is the opt-in', () => {
    const result = runModule(`
      delete Promise.withResolvers
      const { createDhtNode, parsecSection } = await import(${JSON.stringify(ENTRIES[4])})
      const errors = []
      try { parsecSection({}) } catch (error) { errors.push(error.message) }
      try { await (await createDhtNode({ listen: [] })).stop() } catch (error) { errors.push(error.message) }
      await import(${JSON.stringify(entry('packages/p2p-section/dist/src/polyfill.js'))})
      console.log(JSON.stringify({ errors, polyfilled: typeof Promise.withResolvers }))
    `) as { errors: string[]; polyfilled: string }
    assert.equal(result.errors.length, 2)
    for (const message of result.errors) {
      assert.match(
        message,
        /^Promise\.withResolvers is missing .*import '@parsec-section\/p2p-section\/polyfill'/,
      )
    }
    assert.equal(result.polyfilled, 'function')
  })

  for (const [pkg, example] of [
    ['parsec-core', 'section.mjs'],
    ['simulation', 'join.mjs'],
    ['membership', 'leave.mjs'],
  ] as const) {
    it(`${pkg}'s README shows examples/${example} verbatim, and it runs to exit 0`, () => {
      const path = new URL(`packages/${pkg}/examples/${example}`, ROOT)
      const readme = readFileSync(new URL(`packages/${pkg}/README.md`, ROOT), 'utf8')
      assert.ok(
        readme.includes(`\`\`\`js\n${readFileSync(path, 'utf8')}\`\`\``),
        `copy examples/${example} into the README again`,
      )
      const run = spawnSync(process.execPath, [fileURLToPath(path)], { encoding: 'utf8', timeout: 60_000 })
      assert.equal(run.status, 0, `${example}: ${run.stderr}`)
    })
  }

  it("p2p-section's README shows examples/embed.mjs (what test-install runs) verbatim", () => {
    const example = readFileSync(new URL('packages/p2p-section/examples/embed.mjs', ROOT), 'utf8')
    const readme = readFileSync(new URL('packages/p2p-section/README.md', ROOT), 'utf8')
    assert.ok(readme.includes(`\`\`\`js\n${example}\`\`\``), 'copy examples/embed.mjs into the README again')
  })

  it('parsec-peer --version and -V print the version of apps/peer/package.json', () => {
    const { version } = JSON.parse(readFileSync(new URL('apps/peer/package.json', ROOT), 'utf8')) as {
      version: string
    }
    for (const flag of ['--version', '-V']) {
      const run = spawnSync(process.execPath, [BIN, flag], { encoding: 'utf8' })
      assert.equal(run.status, 0, run.stderr)
      assert.equal(run.stdout, `${version}\n`)
    }
  })
})
