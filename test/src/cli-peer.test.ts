/**
 * The command-line peer over real processes: keygen, genesis, start (arguments, control API) and
 * the demo, plus a peer killed and restarted from its data directory. Loopback only.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { type IncomingHttpHeaders, request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parseGenesis } from '@parsec-section/p2p-section'
import { ApiClient, type BlocksJson, freePorts, LocalSection } from 'parsec-peer/local-section'
import { assertUsage, cli } from './cli-support.js'

const BIN = join(dirname(fileURLToPath(import.meta.url)), '../../../apps/peer/bin/parsec-peer.js')

let dir: string
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'parsec-cli-test-'))
})
after(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('parsec-peer keygen', () => {
  it('writes a 0600 key file, prints the peer id and refuses to overwrite', async () => {
    const file = join(dir, 'keygen.json')
    const run = await cli(['keygen', '--out', file])
    assert.equal(run.status, 0, run.stderr)
    const key = JSON.parse(readFileSync(file, 'utf8'))
    assert.deepEqual(Object.keys(key).sort(), ['peerId', 'privateKey'])
    assert.match(key.peerId, /^12D3Koo/)
    assert.equal(run.stdout.trim(), key.peerId)
    assert.equal(statSync(file).mode & 0o777, 0o600)

    const again = await cli(['keygen', '--out', file])
    assertUsage(again, /already exists/)
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), key, 'the file is untouched')

    const json = await cli(['keygen', '--out', join(dir, 'keygen2.json'), '--json'])
    assert.equal(json.status, 0)
    assert.deepEqual(Object.keys(JSON.parse(json.stdout)).sort(), ['file', 'peerId'])
  })

  it('rejects bad arguments with exit 2', async () => {
    assertUsage(await cli(['keygen']), /--out FILE is required/)
    assertUsage(await cli(['keygen', '--out', join(dir, 'x.json'), '--bogus']), /bogus/)
    assertUsage(await cli(['keygen', '--out', join(dir, 'no/such/dir/k.json')]), /cannot write/)
  })
})

describe('parsec-peer genesis', () => {
  const keys: string[] = []
  let peerIds: string[] = []
  before(async () => {
    for (let i = 0; i < 3; i++) keys.push(join(dir, `g-${i}.key.json`))
    const runs = await Promise.all(keys.map((k) => cli(['keygen', '--out', k])))
    peerIds = runs.map((r) => r.stdout.trim())
  })

  it('round-trips: keys and member files in, a genesis file the service parses out', async () => {
    const member = join(dir, 'member.json')
    writeFileSync(member, JSON.stringify({ peerId: peerIds[2], addrs: ['/ip4/127.0.0.1/tcp/4003'] }))
    const out = join(dir, 'genesis.json')
    const run = await cli([
      'genesis',
      keys[0],
      keys[1],
      member,
      '--addr',
      `${peerIds[0]}=/ip4/127.0.0.1/tcp/4001`,
      '--addr',
      `${peerIds[1]}=/ip4/127.0.0.1/tcp/4002`,
      '--mode',
      'supermajority',
      '--out',
      out,
    ])
    assert.equal(run.status, 0, run.stderr)
    const text = readFileSync(out, 'utf8')
    const genesis = parseGenesis(text)
    assert.equal(run.stdout.trim(), genesis.sectionId)
    assert.equal(genesis.mode, 'supermajority')
    const file = JSON.parse(text)
    assert.equal(file.version, 1)
    const addrs = Object.fromEntries(
      file.members.map((m: { peerId: string; addrs: string[] }) => [m.peerId, m.addrs]),
    )
    assert.deepEqual(addrs, {
      [peerIds[0]]: ['/ip4/127.0.0.1/tcp/4001'],
      [peerIds[1]]: ['/ip4/127.0.0.1/tcp/4002'],
      [peerIds[2]]: ['/ip4/127.0.0.1/tcp/4003'],
    })

    // To stdout: the same genesis (the file order does not matter), the section id on stderr.
    const stdout = await cli([
      'genesis',
      member,
      keys[1],
      keys[0],
      '--mode',
      'supermajority',
      '--addr',
      `${peerIds[0]}=/ip4/127.0.0.1/tcp/4001`,
      '--addr',
      `${peerIds[1]}=/ip4/127.0.0.1/tcp/4002`,
    ])
    assert.equal(stdout.status, 0, stdout.stderr)
    assert.equal(parseGenesis(stdout.stdout).sectionId, genesis.sectionId)
    assert.equal(stdout.stdout, text)
    assert.match(stdout.stderr, new RegExp(genesis.sectionId))

    assertUsage(await cli(['genesis', keys[0], '--out', out]), /already exists/)
  })

  it('--related-info: agreed bytes in the genesis file and in the section id', async () => {
    const plain = await cli(['genesis', keys[0]])
    const related = await cli(['genesis', keys[0], '--related-info', '0A0b'])
    assert.equal(related.status, 0, related.stderr)
    const file = JSON.parse(related.stdout) as { relatedInfo?: string }
    assert.equal(file.relatedInfo, '0a0b')
    assert.equal(parseGenesis(related.stdout).relatedInfo.length, 2)
    assert.notEqual(related.stderr, plain.stderr, 'another section id')
  })

  it('rejects bad arguments with exit 2', async () => {
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, '{"peerId": 12}')
    const genesisFile = join(dir, 'g-given.genesis.json')
    assert.equal((await cli(['genesis', keys[0], '--out', genesisFile])).status, 0)
    const notJson = join(dir, 'not.json')
    writeFileSync(notJson, 'nope')
    const cases: [string[], RegExp][] = [
      [['genesis'], /at least one key or member FILE/],
      [['genesis', join(dir, 'missing.json')], /cannot read .*ENOENT/],
      [['genesis', notJson], /not valid JSON/],
      [['genesis', bad], /"peerId" must be a string/],
      [['genesis', keys[0], keys[0]], /listed twice/],
      [['genesis', keys[0], '--mode', 'majority'], /--mode must be one of single, supermajority/],
      [['genesis', keys[0], '--addr', 'nonsense'], /PEERID=MULTIADDR/],
      [['genesis', keys[0], '--addr', `${peerIds[0]}=tcp:4001`], /not a multiaddr/],
      [['genesis', keys[0], '--addr', `${peerIds[1]}=/ip4/127.0.0.1/tcp/1`], /not one of the members/],
      [['genesis', keys[0], '--addr', `${peerIds[0]}=/ip4/127.0.0.1/udp/1/quic-v1`], /no TCP address/],
      [
        ['genesis', keys[0], keys[1], '--addr', `${peerIds[0]}=/ip4/127.0.0.1/tcp/1/p2p/${peerIds[1]}`],
        /names peer .*not the member/,
      ],
      [['genesis', genesisFile], /is a genesis file .*not a key or member file/],
      [['genesis', keys[0], '--related-info', 'abc'], /--related-info takes hex bytes/],
    ]
    const runs = await Promise.all(cases.map(([args]) => cli(args)))
    runs.forEach((run, i) => {
      assertUsage(run, cases[i][1])
    })
  })
})

describe('parsec-peer start: bad arguments', { concurrency: 4 }, () => {
  let key: string
  let other: string
  let genesis: string
  let dataDir: string
  const listen = ['--listen', '/ip4/127.0.0.1/tcp/0']
  before(async () => {
    key = join(dir, 's.key.json')
    other = join(dir, 's-other.key.json')
    genesis = join(dir, 's.genesis.json')
    dataDir = join(dir, 's-data')
    await cli(['keygen', '--out', key])
    await cli(['keygen', '--out', other])
    assert.equal((await cli(['genesis', key, '--out', genesis])).status, 0)
    // A data directory whose identity is `key`.
    const { mkdirSync, copyFileSync } = await import('node:fs')
    mkdirSync(dataDir)
    copyFileSync(key, join(dataDir, 'identity.json'))
    writeFileSync(join(dir, 'bad-key.json'), '{"privateKey": 12}')
    writeFileSync(join(dir, 'bad-genesis.json'), '{"version": 9}')
    writeFileSync(join(dir, 'empty-token'), ' \n')
    writeFileSync(join(dir, 'spaced-token'), 'two words\n')
  })

  const cases: [string, () => string[], RegExp][] = [
    ['missing --genesis', () => ['--key', key, ...listen], /--genesis FILE or --join SECTION_ID is required/],
    ['missing --listen', () => ['--key', key, '--genesis', genesis], /--listen MULTIADDR is required/],
    ['missing --key', () => ['--genesis', genesis, ...listen], /--key FILE is required/],
    [
      'unreadable key file',
      () => ['--key', join(dir, 'none.json'), '--genesis', genesis, ...listen],
      /cannot read key file .*ENOENT/,
    ],
    [
      'a genesis file as --key',
      () => ['--key', genesis, '--genesis', genesis, ...listen],
      /is a genesis file .*not a key file: give it as --genesis/,
    ],
    [
      'malformed key file',
      () => ['--key', join(dir, 'bad-key.json'), '--genesis', genesis, ...listen],
      /key file .*"privateKey"/,
    ],
    [
      'unreadable genesis',
      () => ['--key', key, '--genesis', join(dir, 'none.json'), ...listen],
      /cannot read genesis file/,
    ],
    [
      'a key file as --genesis',
      () => ['--key', key, '--genesis', key, ...listen],
      /is a key file .*give it as --key/,
    ],
    [
      'malformed genesis',
      () => ['--key', key, '--genesis', join(dir, 'bad-genesis.json'), ...listen],
      /genesis file .*version/,
    ],
    [
      'bad --listen multiaddr',
      () => ['--key', key, '--genesis', genesis, '--listen', '127.0.0.1:4001'],
      /not a multiaddr/,
    ],
    [
      'non-TCP --listen',
      () => ['--key', key, '--genesis', genesis, '--listen', '/ip4/127.0.0.1/udp/1'],
      /only \/ip4/,
    ],
    [
      'bad --bootstrap',
      () => ['--key', key, '--genesis', genesis, ...listen, '--bootstrap', '/ip4/127.0.0.1/tcp/1'],
      /\/p2p\/PEERID/,
    ],
    [
      'bad --announce multiaddr',
      () => ['--key', key, '--genesis', genesis, ...listen, '--announce', '203.0.113.7:4001'],
      /--announce: .*not a multiaddr/,
    ],
    [
      '--announce naming another peer',
      () => [
        '--key',
        key,
        '--genesis',
        genesis,
        ...listen,
        '--announce',
        '/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA',
      ],
      /--announce: .*names another peer/,
    ],
    [
      'key not in the genesis',
      () => ['--key', other, '--genesis', genesis, ...listen],
      /is not a member of section/,
    ],
    [
      'malformed --api',
      () => ['--key', key, '--genesis', genesis, ...listen, '--api', 'localhost'],
      /--api takes HOST:PORT/,
    ],
    [
      'non-loopback --api',
      () => ['--key', key, '--genesis', genesis, ...listen, '--api', '0.0.0.0:0'],
      /not a loopback address.*--api-public/,
    ],
    [
      'non-loopback --api on every address without --api-host',
      () => ['--key', key, '--genesis', genesis, ...listen, '--api', '0.0.0.0:0', '--api-public'],
      /needs --api-host NAME/,
    ],
    [
      'malformed --api-host',
      () => ['--key', key, '--genesis', genesis, ...listen, '--api', '127.0.0.1:0', '--api-host', 'a b'],
      /--api-host takes a host name/,
    ],
    [
      'unbracketed IPv6 --api-host',
      () => ['--key', key, '--genesis', genesis, ...listen, '--api', '127.0.0.1:0', '--api-host', '::1'],
      /--api-host takes a host name/,
    ],
    [
      '--api-token without --api',
      () => ['--key', key, '--genesis', genesis, ...listen, '--api-token', join(dir, 'empty-token')],
      /--api-token needs --api HOST:PORT/,
    ],
    [
      'unreadable --api-token',
      () => [
        '--key',
        key,
        '--genesis',
        genesis,
        ...listen,
        '--api',
        '127.0.0.1:0',
        '--api-token',
        join(dir, 'none'),
      ],
      /--api-token: cannot read the token file .*ENOENT/,
    ],
    [
      'empty --api-token',
      () => [
        '--key',
        key,
        '--genesis',
        genesis,
        ...listen,
        '--api',
        '127.0.0.1:0',
        '--api-token',
        join(dir, 'empty-token'),
      ],
      /--api-token: the token file .* is empty/,
    ],
    [
      '--api-token of two words',
      () => [
        '--key',
        key,
        '--genesis',
        genesis,
        ...listen,
        '--api',
        '127.0.0.1:0',
        '--api-token',
        join(dir, 'spaced-token'),
      ],
      /must be one word of printable ASCII/,
    ],
    [
      '--key differs from the data directory',
      () => ['--key', other, '--genesis', genesis, ...listen, '--data-dir', dataDir],
      /differs from the identity kept in/,
    ],
    ['unknown option', () => ['--key', key, '--genesis', genesis, ...listen, '--verbose'], /verbose/],
    [
      'negative --block-retention',
      () => ['--key', key, '--genesis', genesis, ...listen, '--block-retention', '-1'],
      /--block-retention takes a positive integer .*not '-1'/,
    ],
    [
      'fractional --block-retention',
      () => ['--key', key, '--genesis', genesis, ...listen, '--block-retention', '2.5'],
      /--block-retention takes a positive integer .*not '2.5'/,
    ],
    [
      'zero --block-retention',
      () => ['--key', key, '--genesis', genesis, ...listen, '--block-retention', '0'],
      /--block-retention must be at least 1/,
    ],
  ]
  for (const [name, args, pattern] of cases) {
    it(name, async () => {
      assertUsage(await cli(['start', ...args()]), pattern)
    })
  }

  it('a failed start leaves no data directory it created behind', async () => {
    const mistyped = join(dir, 's-dtaa')
    const run = await cli(['start', '--key', other, '--genesis', genesis, ...listen, '--data-dir', mistyped])
    assertUsage(run, /not a member of section/)
    assert.throws(() => statSync(mistyped), /ENOENT/)
  })
})

describe('parsec-peer start --announce', () => {
  it('advertises the --announce addresses (with its peer id), not what its 0.0.0.0 listener expands to', {
    timeout: 60_000,
  }, async () => {
    const key = join(dir, 'announce.key.json')
    const genesis = join(dir, 'announce.genesis.json')
    assert.equal((await cli(['keygen', '--out', key])).status, 0)
    assert.equal((await cli(['genesis', key, '--out', genesis])).status, 0)
    const [port] = await freePorts(1)
    const announced = `/ip4/127.0.0.1/tcp/${port}`
    const child = spawn(process.execPath, [
      BIN,
      'start',
      '--key',
      key,
      '--genesis',
      genesis,
      '--listen',
      `/ip4/0.0.0.0/tcp/${port}`,
      '--announce',
      announced,
      '--json',
    ])
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? (signal === null ? null : -1))),
    )
    let stderr = ''
    let exitSignal: string | null = null
    child.once('exit', (_code, signal) => {
      exitSignal = signal
    })
    try {
      const ready = await new Promise<{ peerId: string; listen: string[] }>((resolve, reject) => {
        let stdout = ''
        const timer = setTimeout(() => reject(new Error(`no ready line in 30 s: ${stderr}`)), 30_000)
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          stdout += d
          for (const line of stdout.split('\n').slice(0, -1)) {
            const event = JSON.parse(line) as { event: string; peerId: string; listen: string[] }
            if (event.event !== 'ready') continue
            clearTimeout(timer)
            resolve(event)
          }
        })
        void exited.then((code) => reject(new Error(`exited (${code}) before ready: ${stderr}`)))
      })
      assert.deepEqual(ready.listen, [`${announced}/p2p/${ready.peerId}`])
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await exited, 0, `exit (signal ${exitSignal}); stderr: ${stderr}`)
  })
})

interface HttpAnswer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly code: string | undefined
}

/** One request with exactly these headers (fetch would not send a foreign Host); answers its error code. */
function httpRequest(
  address: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<HttpAnswer> {
  const colon = address.lastIndexOf(':')
  return new Promise((resolve, reject) => {
    const host = address.slice(0, colon).replace(/^\[|\]$/g, '')
    const req = request({ host, port: Number(address.slice(colon + 1)), method, path, headers }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => (text += d))
      res.on('end', () => {
        try {
          const json = JSON.parse(text) as { error?: { code: string } }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, code: json.error?.code })
        } catch (error) {
          reject(new Error(`${method} ${path}: ${res.statusCode} ${JSON.stringify(text)}`, { cause: error }))
        }
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Polls GET /blocks (long-polling) until `count` blocks are held; returns them all. */
async function blocksUntil(api: ApiClient, count: number, timeoutMs: number): Promise<BlocksJson['blocks']> {
  const deadline = Date.now() + timeoutMs
  const blocks: BlocksJson['blocks'] = []
  while (blocks.length < count) {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`only ${blocks.length} of ${count} blocks after ${timeoutMs} ms`)
    const answer = await api.blocks({ from: blocks.length, wait: Math.min(left, 5000) })
    blocks.push(...answer.blocks)
  }
  return blocks
}

describe('parsec-peer start: the control API', () => {
  let section: LocalSection
  let api: ApiClient
  const stderr: string[] = []
  before(async () => {
    section = await LocalSection.create({
      peers: 1,
      onLine: (_, stream, line) => {
        if (stream === 'stderr') stderr.push(line)
        // A second SIGTERM once the peer stopped cleanly (a supervisor repeating itself).
        else if (/"event":\s*"stopped"/.test(line)) void section.kill(0, 'SIGTERM')
      },
    })
    await section.start(0)
    api = section.api(0)
  })
  after(async () => {
    await section?.close()
  })

  it('reports its status with listen addresses, API address and uptime', async () => {
    const status = await api.status()
    const peer = section.peers[0]
    assert.equal(status.peerId, peer.peerId)
    assert.equal(status.sectionId, section.sectionId)
    assert.deepEqual(status.members, [peer.peerId])
    assert.equal(status.api, api.address)
    assert.deepEqual(status.listen, [`${peer.listen}/p2p/${peer.peerId}`])
    assert.equal(typeof status.uptimeMs, 'number')
    assert.deepEqual(peer.ready?.listen, status.listen)
    const { afterGc, ...figures } = status.memory
    assert.equal(afterGc, false)
    assert.deepEqual(Object.keys(figures).sort(), [
      'arrayBuffersBytes',
      'externalBytes',
      'heapTotalBytes',
      'heapUsedBytes',
      'rssBytes',
    ])
    for (const value of Object.values(figures)) assert.ok(Number.isSafeInteger(value) && value > 0)
    // Without --expose-gc, ?gc=1 is a plain read.
    assert.equal((await api.status({ gc: true })).memory.afterGc, false)
  })

  it('rejects malformed vote bodies with 400 and a JSON error', async () => {
    const bodies: [string, string][] = [
      ['{"payload": "00', 'InvalidJson'],
      ['', 'InvalidJson'],
      ['[1, 2]', 'InvalidBody'],
      ['{}', 'InvalidBody'],
      ['{"payload": "00", "payloads": ["01"]}', 'InvalidBody'],
      ['{"payloads": []}', 'InvalidBody'],
      ['{"payloads": "00"}', 'InvalidBody'],
      ['{"payload": "00", "extra": 1}', 'InvalidBody'],
      ['{"payload": "0g"}', 'InvalidHex'],
      ['{"payload": "abc"}', 'InvalidHex'],
      ['{"payload": 12}', 'InvalidHex'],
      ['{"payloads": ["00", "zz"]}', 'InvalidHex'],
      ['{"payload": ""}', 'EmptyPayload'],
      ['{"payloads": ["00", ""]}', 'EmptyPayload'],
    ]
    for (const [body, code] of bodies) {
      const response = await api.request('POST', '/votes', body)
      assert.equal(response.status, 400, body)
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/)
      const error = (response.json as { error: { code: string; message: string } }).error
      assert.equal(error.code, code, body)
      assert.equal(typeof error.message, 'string')
    }
    const plain = await api.request('POST', '/votes', '{"payload": "00"}', { 'content-type': 'text/plain' })
    assert.equal(plain.status, 415)
    const big = await api.request('POST', '/votes', JSON.stringify({ payload: '00'.repeat(1024 * 1024 + 1) }))
    assert.equal(big.status, 413)
    assert.equal((big.json as { error: { code: string } }).error.code, 'PayloadTooLarge')
    // Nothing was voted by any of these.
    assert.equal((await api.blocks({ from: 1 })).blocks.length, 0)
  })

  it('refuses foreign Host headers, cross-origin writes and requests without the token', async () => {
    const token = section.apiToken?.token
    assert.ok(token !== undefined, 'a local section makes a token for its peers')
    const port = api.address.slice(api.address.lastIndexOf(':') + 1)
    const auth = { authorization: `Bearer ${token}` }
    const json = { 'content-type': 'application/json' }
    const get = (headers: Record<string, string>) => httpRequest(api.address, 'GET', '/status', headers)
    const post = (headers: Record<string, string>) =>
      httpRequest(api.address, 'POST', '/votes', { ...auth, ...json, ...headers }, '{}')

    // The token: missing, wrong or in another scheme is 401.
    const missing = await get({ host: api.address })
    assert.deepEqual([missing.status, missing.code], [401, 'Unauthorized'])
    assert.equal(missing.headers['www-authenticate'], 'Bearer')
    for (const authorization of [
      `Bearer ${token}x`,
      `Bearer ${token.slice(1)}`,
      `Basic ${token}`,
      'Bearer',
    ]) {
      const wrong = await get({ host: api.address, authorization })
      assert.deepEqual([wrong.status, wrong.code], [401, 'Unauthorized'], authorization)
    }
    assert.equal((await new ApiClient(api.address).request('GET', '/status')).status, 401)

    // Host: the served address, and the loopback names with its port; anything else is 421.
    for (const host of [
      api.address,
      `localhost:${port}`,
      `LOCALHOST:${port}`,
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
    ]) {
      assert.equal((await get({ ...auth, host })).status, 200, host)
    }
    for (const host of [
      'evil.example',
      `evil.example:${port}`,
      'localhost',
      `localhost:1${port}`,
      `127.0.0.2:${port}`,
    ]) {
      const answer = await get({ ...auth, host })
      assert.deepEqual([answer.status, answer.code], [421, 'UnknownHost'], host)
    }
    // A foreign host is refused before the token is looked at (a rebound page cannot probe it).
    assert.equal((await get({ host: `evil.example:${port}` })).status, 421)

    // Writes: a foreign or opaque Origin, or a cross-site fetch, is 403; the API's own origin
    // passes (and the empty body is then refused as a body: 400).
    const refused: Record<string, string>[] = [
      { origin: 'http://evil.example' },
      { origin: `http://evil.example:${port}` },
      { origin: 'null' },
      { origin: `https://localhost:${port}` },
      { origin: `http://localhost:1${port}` },
      { 'sec-fetch-site': 'cross-site' },
      { origin: `http://localhost:${port}`, 'sec-fetch-site': 'cross-site' },
    ]
    for (const headers of refused) {
      const answer = await post({ host: api.address, ...headers })
      assert.deepEqual([answer.status, answer.code], [403, 'CrossOrigin'], JSON.stringify(headers))
    }
    const passing: Record<string, string>[] = [
      {},
      { origin: `http://localhost:${port}` },
      { origin: `http://${api.address}` },
      { 'sec-fetch-site': 'same-origin' },
    ]
    for (const headers of passing) {
      const answer = await post({ host: api.address, ...headers })
      assert.deepEqual([answer.status, answer.code], [400, 'InvalidBody'], JSON.stringify(headers))
    }
    // Reads carry no Origin rule (a page of another origin cannot read the answer).
    assert.equal((await get({ ...auth, host: api.address, origin: 'http://evil.example' })).status, 200)
    // Nothing was voted by any of these.
    assert.equal((await api.blocks({ from: 1 })).blocks.length, 0)
  })

  it('GET / and /live.js: the live view, static, served without the token, with a strict CSP', async () => {
    for (const [path, type] of [
      ['/', /^text\/html/],
      ['/live.js', /^text\/javascript/],
    ] as const) {
      const page = await api.request('GET', path, undefined, { authorization: 'Bearer wrong' })
      assert.equal(page.status, 200, path)
      assert.match(page.headers.get('content-type') ?? '', type)
      assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/)
    }
    // The data routes still need it.
    assert.equal(
      (await api.request('GET', '/status', undefined, { authorization: 'Bearer wrong' })).status,
      401,
    )
  })

  it('answers unknown routes with 404, wrong methods with 405, bad queries with 400', async () => {
    for (const [method, path, status, code] of [
      ['GET', '/index.html', 404, 'NotFound'],
      ['POST', '/', 405, 'MethodNotAllowed'],
      ['GET', '/vote', 404, 'NotFound'],
      ['POST', '/status/x', 404, 'NotFound'],
      ['GET', '/votes', 405, 'MethodNotAllowed'],
      ['POST', '/status', 405, 'MethodNotAllowed'],
      ['DELETE', '/blocks', 405, 'MethodNotAllowed'],
      ['GET', '/blocks?from=-1', 400, 'InvalidQuery'],
      ['GET', '/blocks?wait=soon', 400, 'InvalidQuery'],
      ['GET', '/status?gc=yes', 400, 'InvalidQuery'],
    ] as const) {
      const response = await api.request(method, path, method === 'POST' ? '{}' : undefined)
      assert.equal(response.status, status, `${method} ${path}`)
      assert.equal((response.json as { error: { code: string } }).error.code, code, `${method} ${path}`)
    }
    const wrong = await api.request('GET', '/votes')
    assert.equal(wrong.headers.get('allow'), 'POST')
  })

  it('accepts votes and serves them as blocks, long-polling for new ones', async () => {
    const peerId = section.peers[0].peerId
    const first = await api.blocks()
    assert.equal(first.from, 0)
    assert.equal(first.next, 1)
    const { deliveredAt: genesisDeliveredAt, ...genesis } = first.blocks[0]
    assert.deepEqual(genesis, { position: 0, kind: 'genesis', peers: [peerId], voters: [peerId] })
    // A fresh peer delivers its genesis block once its start-up self-check is done.
    assert.equal(typeof genesisDeliveredAt, 'number')
    // A long-poll started before the vote returns the block once it is delivered.
    const polling = api.blocks({ from: 1, wait: 20_000 })
    const before = Date.now()
    const vote = await api.request('POST', '/votes', JSON.stringify({ payloads: ['68656c6c6f', '00ff'] }))
    assert.equal(vote.status, 202)
    assert.deepEqual(vote.json, { accepted: 2 })
    const polled = await polling
    assert.ok(polled.blocks.length >= 1)
    assert.equal(polled.blocks[0].position, 1)
    const blocks = (await blocksUntil(api, 3, 20_000)).slice(1)
    assert.deepEqual(
      blocks.map(({ deliveredAt: _, ...rest }) => rest),
      [
        { position: 1, kind: 'opaque', payload: '68656c6c6f', text: 'hello', voters: [peerId] },
        { position: 2, kind: 'opaque', payload: '00ff', voters: [peerId] },
      ],
    )
    for (const block of blocks) {
      assert.equal(typeof block.deliveredAt, 'number')
      assert.ok((block.deliveredAt ?? 0) >= before - 1000)
    }
    // The same payload again is refused.
    const again = await api.request('POST', '/votes', JSON.stringify({ payload: '68656c6c6f' }))
    assert.equal(again.status, 409)
    assert.equal((again.json as { error: { code: string } }).error.code, 'DuplicateVote')
    // Nothing new: the long-poll ends after its wait with no blocks.
    const start = Date.now()
    const empty = await api.blocks({ from: 3, wait: 300 })
    assert.deepEqual(empty, { from: 3, next: 3, retainedFrom: 0, blocks: [] })
    assert.ok(Date.now() - start >= 250)
    const limited = await api.blocks({ from: 0, limit: 2 })
    assert.equal(limited.next, 2)
    // A list with a duplicate: the others are voted, the refused ones listed.
    const twice = await api.request(
      'POST',
      '/votes',
      JSON.stringify({ payloads: ['aa', 'aa', '68656c6c6f', 'bb'] }),
    )
    assert.equal(twice.status, 409)
    assert.deepEqual(
      { ...(twice.json as { error: object }).error, message: undefined },
      { code: 'DuplicateVote', message: undefined, accepted: 2, refused: [1, 2] },
    )
    const later = await blocksUntil(api, 5, 20_000)
    assert.deepEqual(
      later.slice(3).map((b) => b.payload),
      ['aa', 'bb'],
    )
  })

  it('GET /health: 200 for a running member that reaches a supermajority (itself, in a section of 1)', async () => {
    const health = await api.request('GET', '/health')
    assert.equal(health.status, 200, health.text)
    assert.deepEqual(health.json, {
      state: 'running',
      self: 'member',
      members: 1,
      reached: 1,
      needed: 1,
      healthy: true,
    })
  })

  it("GET /metrics: libp2p's and the section's metrics in Prometheus text, our votes' latency included", async () => {
    const metrics = await api.request('GET', '/metrics')
    assert.equal(metrics.status, 200)
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/)
    const value = (name: string): number => {
      const line = metrics.text.split('\n').find((l) => l.startsWith(`${name} `))
      assert.ok(line !== undefined, `${name} in ${metrics.text.slice(0, 2000)}`)
      return Number(line.split(' ')[1])
    }
    const status = await api.status()
    assert.ok(value('parsec_section_delivered_blocks') >= 3 && value('parsec_section_graph_events') > 0)
    assert.equal(value('parsec_section_members'), 1)
    assert.ok(value('parsec_section_events_created_total') > 0)
    assert.equal(value('parsec_section_events_received_total'), 0, 'a section of 1 receives nothing')
    assert.ok(value('parsec_section_vote_to_block_seconds_count') >= 2, 'the votes of the tests above')
    assert.ok(value('parsec_section_blocks_total') <= status.deliveredBlocks)
    assert.match(metrics.text, /^libp2p_/m)
  })

  it('GET /graph and parsec-peer dump: the live graph as DOT that replay reads back, or as SVG', async () => {
    const address = section.peers[0].api!.address
    const token = ['--api-token', join(section.dir, 'api-token')]
    const whole = join(dir, 'live.dot')
    const dumped = await cli(['dump', '--api', address, ...token, '--out', whole, '--json'])
    assert.equal(dumped.status, 0, dumped.stderr)
    const events = (JSON.parse(dumped.stdout) as { events: number }).events
    assert.ok(events > 0)
    const replayed = await cli(['replay', whole, '--json'])
    assert.equal(replayed.status, 0, replayed.stderr)
    const blocks = (JSON.parse(replayed.stdout) as { blocks: { kind: string; payload?: string }[] }).blocks
    const live = await api.blocks({ from: 0 })
    assert.deepEqual(
      blocks.slice(0, live.blocks.length).map((b) => b.payload),
      // replay prints a payload as its text when printable, else as 0x and hex.
      live.blocks.map((b) => {
        const { payload, text } = b as { payload?: string; text?: string }
        return payload === undefined ? undefined : (text ?? `0x${payload}`)
      }),
    )
    const view = join(dir, 'live-view.dot')
    assert.equal((await cli(['dump', '--api', address, ...token, '--out', view, '--last', '2'])).status, 0)
    const refused = await cli(['replay', view])
    assert.equal(refused.status, 2)
    assert.match(refused.stderr, /not replayable/)
    const svg = await api.request('GET', '/graph?format=svg&last=20')
    assert.equal(svg.status, 200)
    assert.equal(svg.headers.get('content-type'), 'image/svg+xml')
    assert.match(svg.text, /<svg[\s\S]*<\/svg>/)
    assert.equal((await api.request('GET', '/graph?format=png')).status, 400)
    assertUsage(
      await cli(['dump', '--api', address, '--out', join(dir, 'x.png')]),
      /must end in \.dot or \.svg/,
    )
  })

  it('stops cleanly on SIGTERM (exit 0), a second SIGTERM after the stop changing nothing', async () => {
    const exit = await section.stop(0)
    assert.deepEqual(exit, { code: 0, signal: null })
    assert.ok(!stderr.some((line) => /forcibly/.test(line)), stderr.join('\n'))
    // Its data directory was new: said so once the node ran.
    assert.ok(
      stderr.some((line) => /created a new data directory at .*peer-0/.test(line)),
      stderr.join('\n'),
    )
  })
})

describe('parsec-peer start: link errors at start-up', () => {
  it('a member not listening yet costs one link error line, not one per retry, until it is reached', {
    timeout: 60_000,
  }, async () => {
    const lines: { peer: number; event: Record<string, unknown> }[] = []
    let firstError: () => void = () => {}
    const errored = new Promise<void>((resolve) => {
      firstError = resolve
    })
    const section = await LocalSection.create({
      peers: 2,
      onLine: (peer, stream, line) => {
        if (stream !== 'stdout' || !line.startsWith('{')) return
        const event = JSON.parse(line) as Record<string, unknown>
        lines.push({ peer, event })
        if (peer === 0 && event.event === 'link:error') firstError()
      },
    })
    try {
      await section.start(0)
      await errored
      // Alone of 2: not a supermajority.
      const lonely = await section.peers[0].api!.request('GET', '/health')
      assert.equal(lonely.status, 503, lonely.text)
      // Isolated, or still in its start-up self-check (NotRunning).
      assert.match((lonely.json as { reason?: string }).reason ?? '', /^(Isolated|NotRunning)$/)
      await section.start(1)
      const other = section.peers[1].peerId
      const deadline = Date.now() + 30_000
      while (
        !lines.some((l) => l.peer === 0 && l.event.event === 'peer:connected' && l.event.peer === other)
      ) {
        if (Date.now() > deadline) throw new Error('peer 0 never reported peer 1 connected')
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const errors = lines.filter(
        (l) => l.peer === 0 && l.event.event === 'link:error' && l.event.peer === other,
      )
      assert.equal(errors.length, 1, JSON.stringify(errors))
      // Both still in their start-up self-check: healthy once it passes.
      let healthy = await section.peers[0].api!.request('GET', '/health')
      while (healthy.status !== 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        healthy = await section.peers[0].api!.request('GET', '/health')
      }
      assert.equal(healthy.status, 200, healthy.text)
    } finally {
      await section.close()
    }
  })
})

describe('parsec-peer start: --api-host, and an API without a token', () => {
  let section: LocalSection
  let address: string
  let port: string
  before(async () => {
    section = await LocalSection.create({
      peers: 1,
      apiTokenFile: null,
      startArgs: ['--api-host', 'peer.example', '--api-host', 'Other.example:8080'],
    })
    await section.start(0)
    address = section.api(0).address
    port = address.slice(address.lastIndexOf(':') + 1)
  })
  after(async () => {
    await section?.close()
  })

  it('answers to the --api-host names besides its own, and needs no token', async () => {
    assert.equal(section.apiToken, undefined)
    for (const host of [
      address,
      `localhost:${port}`,
      `peer.example:${port}`,
      `PEER.EXAMPLE:${port}`,
      'other.example:8080',
    ]) {
      const answer = await httpRequest(address, 'GET', '/status', { host })
      assert.equal(answer.status, 200, host)
    }
    for (const host of [
      'peer.example',
      'peer.example:8080',
      `other.example:${port}`,
      `evil.example:${port}`,
    ]) {
      const answer = await httpRequest(address, 'GET', '/status', { host })
      assert.deepEqual([answer.status, answer.code], [421, 'UnknownHost'], host)
    }
    const write = (origin: string) =>
      httpRequest(
        address,
        'POST',
        '/votes',
        { host: address, origin, 'content-type': 'application/json' },
        '{}',
      )
    assert.equal((await write(`http://peer.example:${port}`)).status, 400)
    assert.equal((await write('http://other.example:8080')).status, 400)
    assert.equal((await write(`http://evil.example:${port}`)).status, 403)
  })
})

describe('parsec-peer demo', { concurrency: 4 }, () => {
  it('rejects an empty --api-token file with exit 2', async () => {
    const empty = join(dir, 'demo-empty-token')
    writeFileSync(empty, '')
    assertUsage(await cli(['demo', '--api-token', empty]), /--api-token: the token file .* is empty/)
  })

  for (const [args, pattern] of [
    [['--peers', '0'], /--peers must be between 1 and/],
    [['--peers', 'four'], /--peers takes an unsigned integer/],
    [['--payloads', '0'], /--payloads must be between 1 and/],
    [['--mode', 'quorum'], /--mode must be one of/],
    [['--size', '-1'], /--size takes an unsigned integer, not '-1'/],
    [['--payloads', '-1'], /--payloads takes an unsigned integer, not '-1'/],
    [['--verbose'], /verbose/],
    [['--peers', '4', '--kill', '2'], /--kill 2 with --peers 4: .*each kill needs at least 4 members/],
    [['--peers', '3', '--kill', '1'], /a section of 3 shrinks only by a graceful leave/],
    [['--peers', '5', '--kill', '1', '--leave', '4'], /the last member cannot leave; at most --leave 3/],
    [['--leave', 'one'], /--leave takes an unsigned integer/],
  ] as const) {
    it(`rejects ${args.join(' ')} with exit 2`, async () => {
      assertUsage(await cli(['demo', ...args]), pattern)
    })
  }

  it('runs 4 peers and 50 payloads to agreement (--json)', async () => {
    const run = await cli(['demo', '--peers', '4', '--payloads', '50', '--json'], { timeoutMs: 120_000 })
    assert.equal(run.status, 0, run.stderr)
    const summary = JSON.parse(run.stdout)
    assert.deepEqual(Object.keys(summary), [
      'peers',
      'payloads',
      'agreed',
      'blocks',
      'elapsedMs',
      'payloadsPerSecond',
      'latencyMs',
      'members',
      'membersAgreed',
    ])
    assert.deepEqual(Object.keys(summary.latencyMs), ['p50', 'p99'])
    assert.equal(summary.membersAgreed, true)
    assert.equal(summary.members.length, 4)
    assert.equal(summary.peers, 4)
    assert.equal(summary.payloads, 50)
    assert.equal(summary.agreed, true)
    assert.equal(summary.blocks, 51)
    assert.ok(summary.elapsedMs > 0 && summary.payloadsPerSecond > 0)
    assert.ok(summary.latencyMs.p50 <= summary.latencyMs.p99)
  })

  it('--no-metrics: its peers start with --no-metrics and agree', async () => {
    const run = await cli(['demo', '--peers', '2', '--payloads', '10', '--no-metrics', '--json'], {
      timeoutMs: 120_000,
    })
    assert.equal(run.status, 0, run.stderr)
    assert.equal(JSON.parse(run.stdout).agreed, true)
  })
})

describe('parsec-peer bench-live', { concurrency: 4 }, () => {
  for (const [args, pattern] of [
    [['--parts', 'join,speed'], /--parts takes a list of throughput, join, churn, not 'speed'/],
    [['--join-history', '1000,500'], /--join-history must be ascending/],
    [['--join-history', '1000,x'], /--join-history takes an unsigned integer/],
    [['--churn-peers', '0'], /--churn-peers must be between 1 and/],
    [['--churn-seconds', '1.5'], /--churn-seconds takes an unsigned integer/],
  ] as const) {
    it(`rejects ${args.join(' ')} with exit 2`, async () => {
      assertUsage(await cli(['bench-live', ...args]), pattern)
    })
  }
})

describe('parsec-peer bench-growth', { concurrency: 4 }, () => {
  for (const [args, pattern] of [
    [['--rate', '0'], /--rate must be between 1 and/],
    [['--duration', '1.5'], /--duration takes an unsigned integer/],
    [['--sample', '0'], /--sample must be between 1 and/],
    [['--votes', '3'], /votes/],
  ] as const) {
    it(`rejects ${args.join(' ')} with exit 2`, async () => {
      assertUsage(await cli(['bench-growth', ...args]), pattern)
    })
  }

  it('runs 4 peers for 5 s of votes and 2 s idle to agreement, with samples (--json)', async () => {
    const run = await cli(['bench-growth', '--duration', '5', '--idle', '2', '--sample', '2', '--json'], {
      timeoutMs: 90_000,
    })
    assert.equal(run.status, 0, run.stderr)
    const report = JSON.parse(run.stdout)
    assert.deepEqual(Object.keys(report), [
      'peers',
      'rate',
      'durationS',
      'idleS',
      'sizeBytes',
      'votes',
      'voteErrors',
      'agreed',
      'agreedPayloads',
      'drainMs',
      'voting',
      'latencyMs',
      'idle',
      'end',
      'samples',
    ])
    assert.equal(report.peers, 4)
    assert.equal(report.agreed, true)
    assert.equal(report.voteErrors, 0)
    // Paced at 5/s for 5 s: never more, and a few slots may be skipped on a busy machine.
    assert.ok(report.votes > 0 && report.votes <= 25, `votes ${report.votes}`)
    assert.equal(report.agreedPayloads, report.votes)
    assert.ok(report.voting.events > 0 && report.voting.eventsPerPayload > 0)
    assert.ok(report.latencyMs.votingPeer.p50 <= report.latencyMs.votingPeer.p99)
    assert.ok(report.latencyMs.lastPeer.p50 <= report.latencyMs.lastPeer.p99)
    assert.ok(report.idle.seconds >= 2 && report.idle.eventsPerSecond >= 0)
    assert.equal(report.end.length, 4)
    for (const peer of report.end) {
      assert.ok(peer.rssBytes > 0 && peer.heapUsedBytes > 0 && peer.heapBytesPerEvent > 0)
      // The peers run with --expose-gc for this benchmark.
      assert.ok(peer.afterGc !== null && peer.afterGc.heapBytesPerEvent > 0)
    }
    assert.ok(report.samples.length >= 3, `samples ${report.samples.length}`)
    for (const sample of report.samples) {
      assert.deepEqual(Object.keys(sample), [
        't',
        'phase',
        'graphSize',
        'deliveredBlocks',
        'rssBytes',
        'heapUsedBytes',
      ])
      assert.equal(sample.graphSize.length, 4)
    }
    assert.equal(report.samples.at(-1).phase, 'end')
  })
})

describe('a local section of peer processes', () => {
  it('a peer killed with SIGKILL restarts from its data directory and catches up', async () => {
    const section = await LocalSection.create({ peers: 4 })
    try {
      await section.startAll()
      await section.waitConnected(30_000)
      const payload = (i: number) => new TextEncoder().encode(`payload ${i}`)
      for (let i = 0; i < 10; i++) await section.api(i % 4).vote([payload(i)])
      await Promise.all(section.peers.map((p) => blocksUntil(section.api(p.index), 11, 60_000)))

      const { port } = section.peers[3]
      await section.kill(3)
      for (let i = 10; i < 20; i++) await section.api(i % 3).vote([payload(i)])
      await section.start(3)
      assert.equal(section.peers[3].port, port)
      assert.equal(
        section.peers[3].ready?.listen[0],
        `/ip4/127.0.0.1/tcp/${port}/p2p/${section.peers[3].peerId}`,
      )
      await section.api(3).vote([payload(20)])

      const lists = await Promise.all(section.peers.map((p) => blocksUntil(section.api(p.index), 22, 60_000)))
      const shape = (list: BlocksJson['blocks']) =>
        list.slice(0, 22).map((b) => [b.position, b.kind, b.payload])
      for (const list of lists) assert.deepEqual(shape(list), shape(lists[0]))
      const texts = new Set(lists[0].slice(1, 22).map((b) => b.text))
      assert.equal(texts.size, 21)
      // Blocks the restarted peer delivered before it was killed come back without a delivery time.
      assert.ok(lists[3].slice(0, 11).every((b) => b.deliveredAt === null))
    } finally {
      await section.close()
    }
  })

  it('a member restarted without its data directory makes no event and exits 2 naming the fix', async () => {
    const section = await LocalSection.create({ peers: 4 })
    try {
      await section.startAll()
      await section.waitConnected(30_000)
      for (let i = 0; i < 4; i++) await section.api(i).vote([new TextEncoder().encode(`payload ${i}`)])
      await Promise.all(section.peers.map((p) => blocksUntil(section.api(p.index), 5, 60_000)))
      await section.stop(3)
      // A mistyped --data-dir: a new, empty directory.
      renameSync(section.peers[3].dataDir, `${section.peers[3].dataDir}.moved`)
      await section.start(3)
      const exit = await section.peers[3].exited
      assert.equal(exit?.code, 2, section.peers[3].stderr.join('\n'))
      const stderr = section.peers[3].stderr.join('\n')
      assert.match(stderr, /SelfCheckFailed/)
      assert.match(stderr, /right data directory/)
      // The others never saw a fork of it, and keep agreeing.
      await section.api(0).vote([new TextEncoder().encode('after')])
      await Promise.all([0, 1, 2].map((i) => blocksUntil(section.api(i), 6, 60_000)))
      for (const i of [0, 1, 2]) {
        const status = await section.api(i).status()
        assert.deepEqual(status.forkedMembers, [])
        assert.equal(status.faults, 0)
      }
    } finally {
      await section.close()
    }
  })
})
