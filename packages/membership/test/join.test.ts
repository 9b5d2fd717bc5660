import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { add, genesis, MockSecretId, mockId, opaque, remove, utf8 } from '@parsec-section/parsec-core'
import {
  type Admission,
  type AdmissionPolicy,
  addAllowed,
  admissionRecordOf,
  allowlist,
  capacityVerdict,
  checkJoinRequest,
  checkRecord,
  customPolicy,
  encodeAdmissionRecord,
  genesisRecord,
  invitation,
  type JoinRequest,
  type MembershipConfig,
  NEVER,
  openWithWork,
  removeAllowed,
  resolveConfig,
  SectionState,
  signInvitation,
  signJoinRequest,
  solvePow,
} from '../src/index.js'
import { ids, signedBlock } from './support.js'

const FOUR = ['Alice', 'Bob', 'Carol', 'Dave']
const config = resolveConfig({ powBits: 8 })

/** A section of `names` founders, with `blocks` further blocks applied. */
function section(names: readonly string[] = FOUR): {
  state: SectionState
  push: (p: Parameters<typeof signedBlock>[0]) => void
} {
  const state = new SectionState(genesisRecord(ids(names)))
  let position = 0
  const push = (payload: Parameters<typeof signedBlock>[0]) => {
    state.applyBlock(
      signedBlock(
        payload,
        state
          .memberIds()
          .map((id) => id.name)
          .concat(position === 0 ? names : []),
      ),
      position++,
    )
  }
  push(genesis(ids(names)))
  return { state, push }
}

function request(
  state: SectionState,
  name: string,
  options: { powBits?: number; head?: Uint8Array; invite?: ReturnType<typeof signInvitation> } = {},
): JoinRequest {
  const head = options.head ?? state.head
  const nonce = utf8(`nonce-${name}`)
  const peer = mockId(name)
  const powNonce = solvePow(
    { sectionId: state.sectionId, peer, head, nonce },
    options.powBits ?? config.powBits,
  )
  return signJoinRequest(new MockSecretId(name), {
    sectionId: state.sectionId,
    addrs: [],
    head,
    nonce,
    powNonce,
    ...(options.invite === undefined ? {} : { invitation: options.invite }),
  })
}

function check(
  state: SectionState,
  req: JoinRequest,
  options: {
    from?: string
    policy?: AdmissionPolicy
    now?: number
    rejoinAllowedAt?: number
    config?: MembershipConfig
  } = {},
): Admission {
  return checkJoinRequest(req, options.from ?? req.peer.name, {
    state,
    config: options.config ?? config,
    now: options.now ?? 0,
    policy: options.policy ?? openWithWork(),
    ...(options.rejoinAllowedAt === undefined ? {} : { rejoinAllowedAt: options.rejoinAllowedAt }),
  })
}

const reason = (a: Admission) => (a.kind === 'admit' ? 'admit' : a.reason)

describe('join request checks', () => {
  it('admits a valid, fresh request with enough work', () => {
    const { state } = section()
    assert.equal(reason(check(state, request(state, 'Eric'))), 'admit')
  })

  it('refuses the wrong section and a sender that is not the requester', () => {
    const { state } = section()
    const other = section(['Alice', 'Bob']).state
    assert.equal(reason(check(state, request(other, 'Eric'))), 'WrongSection')
    assert.equal(reason(check(state, request(state, 'Eric'), { from: 'Mallory' })), 'PeerMismatch')
  })

  it('refuses a bad signature and insufficient work', () => {
    const { state } = section()
    const req = request(state, 'Eric')
    assert.equal(reason(check(state, { ...req, addrs: ['/ip4/6.6.6.6/tcp/6'] })), 'BadSignature')
    const lazy = signJoinRequest(new MockSecretId('Eric'), { ...req, powNonce: req.powNonce + 1 })
    assert.equal(reason(check(state, lazy)), 'InsufficientWork')
    // The same ticket without work passes a policy that asks for none.
    assert.equal(reason(check(state, lazy, { policy: allowlist(['Eric']) })), 'admit')
  })

  it('refuses a ticket whose head is older than ticketMaxAge membership blocks', () => {
    const { state, push } = section()
    const req = request(state, 'Eric')
    for (let i = 0; i < 3; i++) push(remove(mockId(`Ghost${i}`)))
    assert.equal(reason(check(state, req)), 'admit')
    push(remove(mockId('Ghost3')))
    assert.equal(reason(check(state, req)), 'StaleTicket')
    push(opaque(utf8('opaque blocks do not age tickets')))
    assert.equal(reason(check(state, request(state, 'Eric'))), 'admit')
  })

  it('refuses members, banned peers and resurrection by an old ticket', () => {
    const { state, push } = section()
    assert.equal(reason(check(state, request(state, 'Bob'))), 'AlreadyMember')
    const old = request(state, 'Eric')
    push(add(mockId('Eric')))
    push(remove(mockId('Eric')))
    assert.equal(reason(check(state, old)), 'Resurrection')
    assert.equal(reason(check(state, request(state, 'Erin'))), 'admit')
    push({ kind: 'accusation', offender: mockId('Fred'), malice: { type: 'Unprovable' } })
    assert.equal(reason(check(state, request(state, 'Fred'))), 'Banned')
  })

  it('refuses a removed id for good, even with a fresh ticket (the engine never re-adds it)', () => {
    const { state, push } = section()
    push(add(mockId('Eric')))
    push(remove(mockId('Eric')))
    const fresh = request(state, 'Eric')
    assert.deepEqual(check(state, fresh), { kind: 'reject', reason: 'Resurrection', retryAfterMs: NEVER })
    assert.equal(reason(checkRecord(admissionRecordOf(fresh), state, 4)), 'Resurrection')
    push(remove(mockId('Dave')))
    assert.equal(reason(check(state, request(state, 'Dave'))), 'Resurrection')
  })

  it('applies the local rejoin cooldown', () => {
    const { state } = section()
    const verdict = check(state, request(state, 'Eric'), { now: 1000, rejoinAllowedAt: 5000 })
    assert.deepEqual(verdict, { kind: 'reject', reason: 'RejoinCooldown', retryAfterMs: 4000 })
    assert.equal(reason(check(state, request(state, 'Eric'), { now: 5000, rejoinAllowedAt: 5000 })), 'admit')
  })

  it('seconding checks the record alone', () => {
    const { state, push } = section()
    const record = admissionRecordOf(request(state, 'Eric'))
    assert.equal(reason(checkRecord(record, state, 4)), 'admit')
    push(add(mockId('Eric'), encodeAdmissionRecord(record)))
    assert.equal(reason(checkRecord(record, state, 4)), 'AlreadyMember')
  })
})

describe('admission policies', () => {
  it('allowlist admits the listed only', () => {
    const { state } = section()
    const policy = allowlist(['Eric'])
    assert.equal(reason(check(state, request(state, 'Eric', { powBits: 0 }), { policy })), 'admit')
    assert.equal(reason(check(state, request(state, 'Fred', { powBits: 0 }), { policy })), 'NotAllowed')
  })

  it('invitation: a current member signs for this invitee, within its quota', () => {
    const { state, push } = section()
    const policy = invitation(1)
    const invite = (inviter: string, invitee: string, serial = 0) =>
      signInvitation(new MockSecretId(inviter), {
        sectionId: state.sectionId,
        invitee: mockId(invitee),
        serial,
      })
    assert.equal(
      reason(check(state, request(state, 'Eric', { invite: invite('Alice', 'Eric') }), { policy })),
      'admit',
    )
    assert.equal(reason(check(state, request(state, 'Eric'), { policy })), 'BadInvitation')
    assert.equal(
      reason(check(state, request(state, 'Eric', { invite: invite('Alice', 'Fred') }), { policy })),
      'BadInvitation',
    )
    assert.equal(
      reason(check(state, request(state, 'Eric', { invite: invite('Zed', 'Eric') }), { policy })),
      'BadInvitation',
    )
    assert.equal(
      reason(check(state, request(state, 'Eric', { invite: invite('Alice', 'Eric', 1) }), { policy })),
      'BadInvitation',
    )
    const forged = { ...invite('Alice', 'Eric'), signature: invite('Bob', 'Eric').signature }
    assert.equal(
      reason(check(state, request(state, 'Eric', { invite: forged }), { policy })),
      'BadInvitation',
    )
    // Alice's one invitation is used up once an Add carrying it is agreed.
    const used = admissionRecordOf(request(state, 'Eric', { invite: invite('Alice', 'Eric') }))
    push(add(mockId('Eric'), encodeAdmissionRecord(used)))
    assert.equal(state.invitesUsed('Alice'), 1)
    assert.equal(
      reason(check(state, request(state, 'Fred', { invite: invite('Alice', 'Fred') }), { policy })),
      'InvitationQuota',
    )
    assert.equal(
      reason(check(state, request(state, 'Fred', { invite: invite('Bob', 'Fred') }), { policy })),
      'admit',
    )
  })

  it('a custom function decides after the universal checks', () => {
    const { state } = section()
    const policy = customPolicy('no-g', (req) =>
      req.peer.name.startsWith('G')
        ? { kind: 'reject', reason: 'PolicyRejected', retryAfterMs: 0 }
        : { kind: 'admit' },
    )
    assert.equal(reason(check(state, request(state, 'Gina', { powBits: 0 }), { policy })), 'PolicyRejected')
    assert.equal(reason(check(state, request(state, 'Eric', { powBits: 0 }), { policy })), 'admit')
    assert.equal(reason(check(state, request(state, 'Bob', { powBits: 0 }), { policy })), 'AlreadyMember')
  })
})

describe('the budget rule (spec §1)', () => {
  const view = (voters: number, silent: string[] = [], pendingAdds = 0) => ({
    voters,
    silent: new Set(silent),
    pendingAdds,
    minSize: 4,
  })

  it('#313: Remove of a silent member at N = 3 is refused; a graceful leave at 3 is allowed', () => {
    assert.equal(removeAllowed(view(3), 'Carol', false), false)
    assert.equal(removeAllowed(view(3), 'Carol', true), true)
    assert.equal(removeAllowed(view(2), 'Bob', true), true)
    assert.equal(removeAllowed(view(1), 'Alice', true), false)
  })

  it('Remove of a silent member: 3(N − |P ∪ {x}|) > 2N', () => {
    assert.equal(removeAllowed(view(4), 'Dave', false), true)
    assert.equal(removeAllowed(view(4, ['Carol']), 'Dave', false), false)
    assert.equal(removeAllowed(view(4, ['Dave']), 'Dave', false), true)
    assert.equal(removeAllowed(view(10, ['a', 'b']), 'c', false), true)
    assert.equal(removeAllowed(view(10, ['a', 'b', 'c']), 'd', false), false)
    // A graceful leaver is not counted silent, other silent voters are.
    assert.equal(removeAllowed(view(4, ['Carol']), 'Dave', true), true)
    assert.equal(removeAllowed(view(4, ['Carol', 'Bob']), 'Dave', true), false)
  })

  it('Add: 3(N − |P|) > 2(N + J + 1), the newcomer silent until active', () => {
    assert.equal(addAllowed(view(4)), true)
    assert.equal(addAllowed(view(4, ['Dave'])), false)
    assert.equal(addAllowed(view(4, [], 1)), false)
    assert.equal(addAllowed(view(7, [], 1)), true)
    assert.equal(addAllowed(view(7, ['x'], 1)), false)
    assert.equal(addAllowed(view(10, ['x'], 2)), true)
  })

  it('fragile phase: an Add only with J = 0 and P = ∅', () => {
    assert.equal(addAllowed(view(1)), true)
    assert.equal(addAllowed(view(2)), true)
    assert.equal(addAllowed(view(3)), true)
    assert.equal(addAllowed(view(2, [], 1)), false)
    assert.equal(addAllowed(view(3, ['Carol'])), false)
  })
})

describe('capacity rules', () => {
  const verdict = (
    state: SectionState,
    options: Partial<{
      silent: string[]
      pendingAdds: number
      candidates: number
      config: MembershipConfig
    }> = {},
  ) =>
    reason(
      capacityVerdict({
        state,
        config: options.config ?? config,
        silent: new Set(options.silent ?? []),
        pendingAdds: options.pendingAdds ?? 0,
        candidates: options.candidates ?? 0,
      }),
    )

  it('maxSize counts pending Adds', () => {
    const { state } = section()
    assert.equal(verdict(state, { config: resolveConfig({ maxSize: 5, powBits: 8 }) }), 'admit')
    assert.equal(verdict(state, { config: resolveConfig({ maxSize: 4, powBits: 8 }) }), 'SectionFull')
    assert.equal(
      verdict(state, { pendingAdds: 1, config: resolveConfig({ maxSize: 5, powBits: 8 }) }),
      'SectionFull',
    )
  })

  it('one candidate at a time below minSize, maxCandidates above', () => {
    assert.equal(verdict(section(['Alice']).state), 'admit')
    assert.equal(verdict(section(['Alice']).state, { candidates: 1 }), 'TooManyCandidates')
    assert.equal(verdict(section(['Alice', 'Bob']).state, { pendingAdds: 1 }), 'TooManyCandidates')
    const seven = section(['Alice', 'Bob', 'Carol', 'Dave', 'Eric', 'Fred', 'Gina']).state
    assert.equal(verdict(seven, { candidates: 1 }), 'admit')
    assert.equal(verdict(seven, { candidates: 2 }), 'TooManyCandidates')
  })

  it('young cap 3·(young+1) < N+1 from N = 4, lifted in the fragile phase', () => {
    const { state, push } = section()
    push(add(mockId('Eric')))
    // N = 5, one young: 3·2 < 6 fails.
    const spaced = resolveConfig({ powBits: 8, minBlocksBetweenAdds: 0 })
    assert.equal(verdict(state, { config: spaced }), 'YoungCap')
    for (let i = 0; i < 50; i++) push(opaque(utf8(`b${i}`)))
    assert.equal(verdict(state, { config: spaced }), 'admit')
    const small = section(['Alice', 'Bob']).state
    assert.equal(verdict(small, { config: spaced }), 'admit')
  })

  it('minBlocksBetweenAdds spaces Adds outside the fragile phase', () => {
    const { state, push } = section()
    push(add(mockId('Eric')))
    const noProbation = resolveConfig({ powBits: 8, probationBlocks: 0, minBlocksBetweenAdds: 3 })
    assert.equal(verdict(state, { config: noProbation }), 'TooSoon')
    for (let i = 0; i < 3; i++) push(opaque(utf8(`b${i}`)))
    assert.equal(verdict(state, { config: noProbation }), 'admit')
  })

  it('defers on the budget rule', () => {
    const { state } = section()
    assert.equal(verdict(state, { silent: ['Dave'] }), 'Budget')
  })
})
