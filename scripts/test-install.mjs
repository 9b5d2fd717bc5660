// `pnpm test:install`: the packages as an application outside this workspace gets them. Packs every
// publishable package twice (`npm pack` and `pnpm pack`, each building first through `prepack`),
// checks what the tarballs hold, then makes two new projects in a temporary folder (outside the
// workspace): one installs the npm-packed tarballs with npm, the other the pnpm-packed ones with
// pnpm. In each, packages/p2p-section/examples/embed.mjs (the README's embedding example, copied,
// not rewritten) must run to agreement, and the installed `parsec-peer --version` must print its
// version; the npm project also typechecks a TypeScript file against the installed types. Needs
// the npm registry (the dependencies are installed as an application would). Exit 0 or 1.
// `node scripts/test-install.mjs --keep` leaves the temporary folder for a look.
import { spawnSync } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const PACKAGES = [
  'packages/parsec-core',
  'packages/membership',
  'packages/simulation',
  'packages/p2p-section',
  'apps/peer',
]
const EXAMPLE = join(ROOT, 'packages/p2p-section/examples/embed.mjs')
const keep = process.argv.includes('--keep')
const started = Date.now()

const manifest = (dir) => JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8'))
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`

/** Runs a command to completion: one line when it passes, its whole output when it fails (exit 1). */
function run(what, command, args, { quiet = false, ...options }) {
  const since = Date.now()
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 600_000, ...options })
  if (result.status !== 0) {
    console.error(`test-install: FAILED: ${what} (${command} ${args.join(' ')} in ${options.cwd})`)
    console.error(result.error?.message ?? '', result.stdout, result.stderr)
    finish(1)
  }
  if (!quiet) console.log(`  ${what}: ok (${seconds(since)})`)
  return result.stdout
}

function finish(code) {
  if (keep) console.log(`test-install: kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
  if (code === 0) console.log(`test-install: passed in ${seconds(started)}`)
  process.exit(code)
}

const work = mkdtempSync(join(tmpdir(), 'parsec-install-'))
if (!relative(ROOT, work).startsWith('..')) throw new Error(`${work} is inside the workspace`)
// A workspace's settings must not reach the new projects (pnpm reads the CI variable too).
const env = { ...process.env, npm_config_yes: 'true' }
for (const key of Object.keys(env)) if (/^(npm|pnpm)_(config|package|lifecycle)_/i.test(key)) delete env[key]

// ------------------------------------------------------------------------------------- packing

/** What a tarball may hold: the built sources (no tests, no source maps), the bin, the docs. */
const SHIPPED =
  /^package\/(package\.json|README\.md|LICENSE[-\w]*|dist\/src\/.+\.(js|d\.ts)|bin\/[\w-]+\.js)$/

/** Packs every package with `tool` into work/tarballs-TOOL; returns the tarball of each name. */
function pack(tool) {
  const dest = join(work, `tarballs-${tool}`)
  mkdirSync(dest)
  const tarballs = {}
  for (const dir of PACKAGES) {
    const { name, version } = manifest(dir)
    const file = join(dest, `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`)
    run(`${tool} pack ${name}`, tool, ['pack', '--pack-destination', dest], {
      cwd: join(ROOT, dir),
      env: process.env,
    })
    const listing = run(`${name}'s tarball holds only what it should`, 'tar', ['tzf', file], {
      cwd: dest,
      quiet: true,
    })
    const files = listing.trim().split('\n')
    const stray = files.filter((f) => !SHIPPED.test(f))
    const packed = JSON.parse(
      run(`${name}'s packed package.json`, 'tar', ['xzOf', file, 'package/package.json'], {
        cwd: dest,
        quiet: true,
      }),
    )
    const unresolved = Object.entries({ ...packed.dependencies, ...packed.peerDependencies }).filter(
      ([, spec]) => /^(workspace|link|file):/.test(spec),
    )
    if (stray.length > 0 || unresolved.length > 0 || !files.includes('package/README.md')) {
      console.error(
        `test-install: FAILED: ${file}: stray files ${JSON.stringify(stray)}, unresolved ${JSON.stringify(unresolved)}, README ${files.includes('package/README.md')}`,
      )
      finish(1)
    }
    tarballs[name] = file
  }
  return tarballs
}

// ------------------------------------------------------------------------------------ projects

/** The application's own imports in embed.mjs, at the ranges p2p-section uses. */
function exampleDependencies() {
  const p2p = manifest('packages/p2p-section')
  return {
    '@libp2p/crypto': p2p.dependencies['@libp2p/crypto'],
    '@libp2p/peer-id': p2p.dependencies['@libp2p/peer-id'],
  }
}

/** A new project depending on every tarball, with the example's own imports. */
function project(tool, tarballs) {
  const dir = join(work, `app-${tool}`)
  mkdirSync(dir)
  const local = Object.fromEntries(Object.entries(tarballs).map(([name, file]) => [name, `file:${file}`]))
  const pkg = {
    name: `embed-with-${tool}`,
    private: true,
    type: 'module',
    dependencies: { ...local, ...exampleDependencies() },
  }
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`)
  // The packages name each other by semver range and are not on the registry: npm takes the
  // project's own copies for those ranges, pnpm is told to (overrides), as the README says.
  if (tool === 'pnpm') {
    writeFileSync(
      join(dir, 'pnpm-workspace.yaml'),
      [
        'overrides:',
        ...Object.entries(local).map(([name, spec]) => `  '${name}': '${spec}'`),
        'allowBuilds:',
        '  # LevelDB (datastore-level): node-gyp-build picks the prebuilt binary the package ships.',
        '  classic-level: true',
        '',
      ].join('\n'),
    )
  }
  copyFileSync(EXAMPLE, join(dir, 'embed.mjs'))
  return dir
}

/** A TypeScript file importing every entry point, typechecked (strict) against the installed types. */
function typecheck(dir) {
  writeFileSync(
    join(dir, 'check.ts'),
    [
      "import '@parsec-section/p2p-section/polyfill'",
      "import type { Membership } from '@parsec-section/membership'",
      "import { createGenesis, createSectionNode, type DeliveredBlock } from '@parsec-section/p2p-section'",
      "import { Parsec } from '@parsec-section/parsec-core'",
      "import { parseDot } from '@parsec-section/parsec-core/dot'",
      "import { simulate } from '@parsec-section/simulation'",
      "import { main } from 'parsec-peer'",
      'export const uses: unknown[] = [createGenesis, createSectionNode, Parsec, parseDot, simulate, main]',
      'export type Uses = [DeliveredBlock, Membership]',
      '',
    ].join('\n'),
  )
  // As this workspace compiles: strict, NodeNext, Node's types (this workspace's copy), libraries'
  // own .d.ts not rechecked (libp2p's need the DOM's); an entry or export missing still fails.
  const compilerOptions = {
    noEmit: true,
    strict: true,
    module: 'nodenext',
    target: 'es2022',
    skipLibCheck: true,
    typeRoots: [join(ROOT, 'node_modules/@types')],
    types: ['node'],
  }
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['check.ts'] }))
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
  const flags = ['-p', '.']
  run('typecheck a TypeScript import of every entry point', process.execPath, [tsc, ...flags], {
    cwd: dir,
    env,
  })
}

/** How many copies of `name` a project installed: npm nests a second copy, pnpm stores it apart. */
function copies(dir, name) {
  if (existsSync(join(dir, 'node_modules/.pnpm'))) {
    const stored = `${name.replace('/', '+')}@`
    return readdirSync(join(dir, 'node_modules/.pnpm')).filter((entry) => entry.startsWith(stored)).length
  }
  let count = 0
  const walk = (modules) => {
    if (!existsSync(modules)) return
    if (existsSync(join(modules, name, 'package.json'))) count++
    for (const entry of readdirSync(modules, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === '.bin') continue
      if (entry.name.startsWith('@')) {
        for (const scoped of readdirSync(join(modules, entry.name)))
          walk(join(modules, entry.name, scoped, 'node_modules'))
      } else walk(join(modules, entry.name, 'node_modules'))
    }
  }
  walk(join(dir, 'node_modules'))
  return count
}

function tryProject(tool, tarballs) {
  console.log(`a new project, installed with ${tool}: ${join(work, `app-${tool}`)}`)
  const dir = project(tool, tarballs)
  const install =
    tool === 'npm'
      ? ['install', '--no-audit', '--no-fund', '--loglevel=error']
      : ['install', '--no-frozen-lockfile', '--reporter=append-only']
  run(`${tool} install`, tool, install, { cwd: dir, env })
  for (const name of ['libp2p', '@libp2p/interface']) {
    const n = copies(dir, name)
    if (n !== 1) {
      console.error(`test-install: FAILED: the ${tool} project holds ${n} copies of ${name}, not one`)
      finish(1)
    }
  }
  console.log('  one libp2p and one @libp2p/interface (peer dependencies of p2p-section): ok')
  if (tool === 'npm') typecheck(dir)
  const out = run('the embedding example: 4 members agree', process.execPath, ['embed.mjs'], {
    cwd: dir,
    env,
    timeout: 120_000,
  })
  console.log(`    ${out.trim().split('\n').at(-1)}`)
  const version = run('parsec-peer --version', join(dir, 'node_modules/.bin/parsec-peer'), ['--version'], {
    cwd: dir,
    env,
  })
  if (version.trim() !== manifest('apps/peer').version) {
    console.error(`test-install: FAILED: parsec-peer --version printed ${JSON.stringify(version)}`)
    finish(1)
  }
}

console.log(`test-install: packing ${PACKAGES.length} packages into ${work}`)
const packed = { npm: pack('npm'), pnpm: pack('pnpm') }
tryProject('npm', packed.npm)
tryProject('pnpm', packed.pnpm)
finish(0)
