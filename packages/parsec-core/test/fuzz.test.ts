/**
 * Hostile input: random and mutated requests and responses, at the byte level and the event
 * level, must never throw out of a handle call: a step carrying a typed `ParsecError` (decoding
 * bytes throws one), and the section must still reach consensus afterwards on everything honest
 * peers voted.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { PackedEvent, Request } from '../src/index.js'
import { decodeMessage, encodeMessage, mockId, mockScheme, opaque, ParsecError, utf8 } from '../src/index.js'
import { keep, message, seededRandom, TestSection } from './support.js'

const SEEDS = Number(process.env.FUZZ_SEEDS ?? 12)
const MUTATIONS = 150

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]
}

function mutateBytes(random: () => number, bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes)
  switch (Math.floor(random() * 4)) {
    case 0:
      for (let i = 0, n = 1 + Math.floor(random() * 4); i < n; i++)
        out[Math.floor(random() * out.length)] ^= 1 << Math.floor(random() * 8)
      return out
    case 1:
      return out.slice(0, Math.floor(random() * out.length))
    case 2: {
      const extra = new Uint8Array(1 + Math.floor(random() * 64))
      for (let i = 0; i < extra.length; i++) extra[i] = Math.floor(random() * 256)
      const joined = new Uint8Array(out.length + extra.length)
      joined.set(out)
      joined.set(extra, out.length)
      return joined
    }
    default: {
      const garbage = new Uint8Array(Math.floor(random() * 200))
      for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(random() * 256)
      return garbage
    }
  }
}

function mutateEvents(random: () => number, events: readonly PackedEvent[]): PackedEvent[] {
  const out = [...events]
  switch (Math.floor(random() * 6)) {
    case 0:
      return out.reverse()
    case 1:
      out.splice(Math.floor(random() * out.length), 1)
      return out
    case 2: {
      const i = Math.floor(random() * out.length)
      const signature = Uint8Array.from(out[i].signature)
      signature[0] ^= 0xff
      out[i] = { ...out[i], signature }
      return out
    }
    case 3: {
      const i = Math.floor(random() * out.length)
      out[i] = { ...out[i], creator: mockId('Mallory') }
      return out
    }
    case 4:
      return []
    default: {
      const i = Math.floor(random() * out.length)
      const cause = out[i].cause
      if (cause.kind !== 'initial') {
        const selfParent = Uint8Array.from(cause.selfParent)
        selfParent[5] ^= 1
        out[i] = { ...out[i], cause: { ...cause, selfParent } }
      }
      return out
    }
  }
}

describe('hostile input', () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    it(`only typed errors, and consensus afterwards (seed ${seed})`, () => {
      const random = seededRandom(seed)
      const section = new TestSection(4, random)
      for (const node of section.nodes) node.voteFor(opaque(utf8(`before${seed}`)))
      const codes = new Map<string, number>()
      const captured: Request[] = []
      for (let i = 0; i < MUTATIONS; i++) {
        section.gossipOnce()
        const from = pick(random, section.nodes)
        const to = section.node(pick(random, from.gossipRecipients()).name)
        const request = message(from, from.createGossip(to.ourId))
        captured.push(request)
        const victim = pick(random, section.nodes)
        const claimed = pick(random, [from.ourId, to.ourId, mockId('Mallory')])
        let hostile: Request
        try {
          if (random() < 0.5)
            hostile = decodeMessage(mutateBytes(random, encodeMessage(pick(random, captured))), mockScheme)
          else hostile = { packedEvents: mutateEvents(random, pick(random, captured).packedEvents) }
        } catch (error) {
          // Decoding mutated bytes throws a typed error.
          assert.ok(error instanceof ParsecError, `seed ${seed}: untyped error ${String(error)}`)
          codes.set(error.code, (codes.get(error.code) ?? 0) + 1)
          continue
        }
        // A handle call never throws on bad input: the step carries the error.
        const call = random()
        const step =
          call < 0.4
            ? victim.handleRequest(claimed, hostile)
            : call < 0.8
              ? victim.handleResponse(claimed, hostile)
              : victim.ingest(claimed, hostile.packedEvents)
        keep(victim, step)
        if (step.error !== undefined) {
          assert.ok(step.error instanceof ParsecError, `seed ${seed}: untyped error`)
          assert.equal(
            (step as { message?: unknown }).message,
            undefined,
            `seed ${seed}: a response to bad input`,
          )
          for (const fault of step.error.faults) assert.ok(step.faults.includes(fault), `seed ${seed}`)
          codes.set(step.error.code, (codes.get(step.error.code) ?? 0) + 1)
        }
      }
      for (const node of section.nodes) node.voteFor(opaque(utf8(`after${seed}`)))
      section.runUntilBlocks(3)
      const views = section.descriptions().map((d) => d.slice(0, 3))
      for (const view of views) assert.deepEqual(view, views[0], `seed ${seed}: peers disagree`)
      assert.ok(
        codes.size >= 3,
        `seed ${seed}: mutations exercised too few error kinds: ${[...codes.keys()]}`,
      )
    })
  }
})
