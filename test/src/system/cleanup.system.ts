/**
 * System test: a NetnsLab removes its namespaces, their interfaces and the processes in them on
 * every way its owner ends (a normal close, an uncaught exception, process.exit, SIGINT, SIGTERM),
 * and a lab whose owner was SIGKILLed is removed as stale by the next lab. Root and iproute2 needed.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { LAB_PREFIX, listHostInterfaces, listNamespaces, NetnsLab } from './netns.js'

const FIXTURE = fileURLToPath(new URL('./lab-fixture.js', import.meta.url))

interface FixtureLab {
  readonly runId: string
  readonly namespaces: string[]
  readonly pids: number[]
}

/** Whether `pid` runs (a zombie, dead but not yet reaped by its new parent, does not). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** What is left of the fixture's lab: its namespaces, host interfaces, live processes. */
function leftovers(lab: FixtureLab): unknown {
  return {
    namespaces: listNamespaces().filter((name) => name.startsWith(`${LAB_PREFIX}-${lab.runId}-`)),
    interfaces: listHostInterfaces().filter((name) => name.startsWith(`${LAB_PREFIX}${lab.runId}`)),
    processes: lab.pids.filter(isAlive),
  }
}

const NOTHING = { namespaces: [], interfaces: [], processes: [] }

/** Runs the fixture, lets `end` act on it once its lab is built; resolves with the lab and the exit. */
async function runFixture(
  mode: string,
  end: (pid: number) => void = () => {},
): Promise<{ lab: FixtureLab; code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, [FIXTURE, mode], { stdio: ['ignore', 'pipe', 'pipe'] })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  try {
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string]
    const lab = JSON.parse(line) as FixtureLab
    assert.equal(lab.namespaces.length, 3)
    end(child.pid!)
    const [code, signal] = await exited
    return { lab, code, signal }
  } finally {
    clearTimeout(timer)
  }
}

describe('a network namespace lab is removed in every exit path', { timeout: 120_000 }, () => {
  it('a normal close', async () => {
    const { lab, code } = await runFixture('close')
    assert.equal(code, 0)
    assert.deepEqual(leftovers(lab), NOTHING)
  })

  it('an uncaught exception', async () => {
    const { lab, code } = await runFixture('throw')
    assert.equal(code, 1)
    assert.deepEqual(leftovers(lab), NOTHING)
  })

  it('process.exit', async () => {
    const { lab, code } = await runFixture('exit')
    assert.equal(code, 3)
    assert.deepEqual(leftovers(lab), NOTHING)
  })

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(signal, async () => {
      const result = await runFixture('wait', (pid) => process.kill(pid, signal))
      assert.equal(result.signal, signal, 'the owner still dies of the signal')
      assert.deepEqual(leftovers(result.lab), NOTHING)
    })
  }

  it('SIGKILL: the next lab removes the stale one first', async () => {
    const { lab, signal } = await runFixture('wait', (pid) => process.kill(pid, 'SIGKILL'))
    assert.equal(signal, 'SIGKILL')
    const stale = leftovers(lab) as { namespaces: string[]; processes: number[] }
    assert.deepEqual(stale.namespaces.sort(), [...lab.namespaces].sort(), 'nothing could clean up')
    assert.equal(stale.processes.length, 2, 'what ran in the namespaces outlived its owner')

    const next = NetnsLab.create({ hosts: 1 })
    try {
      assert.deepEqual(leftovers(lab), NOTHING)
    } finally {
      await next.close()
    }
    assert.deepEqual(next.leftovers(), { namespaces: [], interfaces: [] })
  })
})
