/**
 * The joiner's side (spec §3, §3.5): ask contacts for JoinInfo and keep the longest verified chain;
 * send one ticket with its proof of work to every member; on the first admission build the engine
 * and catch up from one member at a time; send Ready once within `readyLag` blocks of the server;
 * restart from fresh JoinInfo when the ticket goes stale in our own replay, when every member
 * refused, or after `candidateTimeoutMs` without progress.
 */
import { checkpointRuleOf, NEVER } from '../defaults.js'
import { bytesEqual, type PublicId, sortIds } from '../engine-exports.js'
import { MembershipError } from '../errors.js'
import { solvePow } from '../join/pow.js'
import { admissionRecordOf } from '../join/validate.js'
import { maxFaulty } from '../quorum.js'
import { SectionState } from '../state/section-state.js'
import { verifyChain } from '../state/verify-chain.js'
import {
  type Invitation,
  type JoinInfo,
  type JoinRequest,
  signJoinRequest,
  signReady,
} from '../wire/messages.js'
import { type AdmissionRecord, ticketDigest } from '../wire/records.js'
import {
  decodeFrom,
  epochStartOf,
  fault,
  type MachineContext,
  send,
  stateAtLastCheckpoint,
} from './context.js'
import type { Step } from './step.js'

/** Contacts a joiner keeps: discovery answers are unauthenticated, so they are bounded. */
export const MAX_CONTACTS = 64

interface Attempt {
  contacts: PublicId[]
  best?: { readonly info: JoinInfo; readonly verified: SectionState }
  /** Our signed ticket, presented again before a late Ready (members forget a silent candidate). */
  request?: JoinRequest
  record?: AdmissionRecord
  digest?: Uint8Array
  /** When we last presented the ticket. */
  requestedAt: number
  /**
   * Presented again and no admit since: Ready waits for one (with its member's current count), and
   * if every member refuses the ticket we are out, as when requesting.
   */
  readmitting: boolean
  asked: PublicId[]
  /** Members that answered our catch-up from a later epoch, asked for their chain (`aheadEpoch`). */
  aheadAsked: Set<string>
  refusedBy: Set<string>
  /** Asked members that refused our ticket as stale: past f of them, an honest one holds it stale. */
  staleBy: Set<string>
  admitters: PublicId[]
  server?: PublicId
  serverAgreed: number
  lastProgressAt: number
  retryAt?: number
  /** While no JoinInfo came: when we ask our contacts again, and the wait after that. */
  infoAskAt: number
  infoRetryMs: number
}

export class Joiner {
  private attempt: Attempt | undefined
  private engineBuilt = false

  constructor(
    private readonly ctx: MachineContext,
    private invitation: Invitation | undefined,
  ) {}

  get active(): boolean {
    return this.attempt !== undefined
  }

  /** The longest membership chain we verified (JoinInfo), while we join. */
  get verified(): SectionState | undefined {
    return this.attempt?.best?.verified
  }

  /** (Re)starts joining through `contacts`. */
  begin(step: Step, contacts: readonly PublicId[], invitation?: Invitation): void {
    if (invitation !== undefined) this.invitation = invitation
    this.attempt = this.newAttempt(contacts)
    this.ctx.role = 'outsider'
    this.askJoinInfo(step)
  }

  /** New contacts (from discovery): asked for JoinInfo at once unless we are already admitted. */
  addContacts(peers: readonly PublicId[], step: Step): void {
    const attempt = this.attempt
    if (attempt === undefined) return
    const known = new Set(attempt.contacts.map((c) => c.name))
    const fresh: PublicId[] = []
    for (const peer of peers) {
      if (attempt.contacts.length + fresh.length >= MAX_CONTACTS) break
      if (!known.has(peer.name)) fresh.push(peer)
      known.add(peer.name)
    }
    attempt.contacts.push(...fresh)
    if (this.ctx.role !== 'outsider' && this.ctx.role !== 'requesting') return
    for (const peer of fresh) send(step, peer, { kind: 'joinInfoRequest', sectionId: this.ctx.sectionId })
  }

  /** Our Add is agreed: the head our replay reached must be the verified chain's at that `seq`. */
  agreesWithVerifiedChain(state: SectionState): boolean {
    const expected = this.attempt?.best?.verified.headAt(state.seq)
    return expected === undefined || bytesEqual(expected, state.head)
  }

  finished(): void {
    this.attempt = undefined
  }

  /** The engine was stopped (end of a drain): a rejoin builds a new one. */
  engineStopped(): void {
    this.engineBuilt = false
  }

  joinInfo(from: PublicId, bytes: Uint8Array, step: Step): void {
    const attempt = this.attempt
    if (attempt === undefined) return
    const info = decodeFrom(this.ctx, bytes, 'joinInfo', from, step)
    if (info === undefined) return
    if (!bytesEqual(info.sectionId, this.ctx.sectionId)) {
      fault(step, from, 'WrongSection', 'JoinInfo for another section')
      return
    }
    if (info.powBits > this.ctx.config.maxPowBits) {
      const detail = `JoinInfo from ${from.name} asks ${info.powBits} bits of work, above maxPowBits`
      step.warnings.push({ kind: 'Dropped', detail })
      return
    }
    let verified: SectionState
    try {
      verified = verifyChain(this.ctx.sectionId, info.record, info.chain, {
        ids: this.ctx.ids,
        ...(attempt.best === undefined ? {} : { minSeq: attempt.best.verified.seq }),
      })
    } catch (error) {
      if (!(error instanceof MembershipError)) throw error
      // A shorter chain proves nothing: an honest member may lag a membership block behind.
      if (error.code === 'StaleChain') {
        step.warnings.push({ kind: 'Dropped', detail: `StaleChain from ${from.name}: ${error.detail}` })
      } else fault(step, from, 'ForgedChain', `${error.code}: ${error.detail}`)
      return
    }
    const best = attempt.best?.verified
    if (best !== undefined && verified.seq === best.seq && verified.epoch <= best.epoch) return
    attempt.best = { info, verified }
    attempt.lastProgressAt = this.ctx.now
    this.ctx.state ??= new SectionState(
      info.record,
      this.ctx.config.historyWindow,
      this.ctx.ids,
      checkpointRuleOf(this.ctx.config),
    )
    // Already a member there (our Add was agreed while our replay lagged): no ticket; the machine
    // takes us in from this chain (`Membership.joinedByChain`).
    if (this.ctx.role === 'outsider' && !verified.isMember(this.ctx.us.publicId.name))
      this.sendJoinRequest(step)
  }

  /**
   * A member answered our catch-up that it holds no engine of our epoch and is in a later one: the
   * section moved on by epochs while we replayed, and ours may be gone everywhere. Its chain tells
   * whether our Add was agreed meanwhile (asked once per member and attempt).
   */
  aheadEpoch(peer: PublicId, step: Step): void {
    const attempt = this.attempt
    if (attempt === undefined || (this.ctx.role !== 'candidate' && this.ctx.role !== 'ready')) return
    if (attempt.aheadAsked.has(peer.name)) return
    attempt.aheadAsked.add(peer.name)
    send(step, peer, { kind: 'joinInfoRequest', sectionId: this.ctx.sectionId })
  }

  /**
   * The verified chain lists us, added after its last checkpoint: the current epoch's graph, which
   * every member holds, has our Add. Our observer replays it from that epoch's start (rebuilt there
   * unless it is already in that epoch), pulling from `from`, and our fold of the Add makes us a
   * member as usual.
   */
  replayOurAdd(from: PublicId, step: Step): void {
    const attempt = this.attempt
    const best = attempt?.best
    if (attempt === undefined || best === undefined) return
    if (!this.engineBuilt || this.epochsBehind(best)) {
      this.engineBuilt = true
      this.construct(step, best)
    }
    // Past Ready: only our Add's fold is progress now, which `candidateTimeoutMs` still bounds.
    this.ctx.role = 'ready'
    attempt.lastProgressAt = this.ctx.now
    if (!attempt.admitters.some((p) => p.name === from.name)) attempt.admitters.push(from)
    attempt.server = from
    step.engine.push({ kind: 'catchUp', from })
  }

  candidateReply(from: PublicId, bytes: Uint8Array, step: Step): void {
    const attempt = this.attempt
    const reply = decodeFrom(this.ctx, bytes, 'candidateReply', from, step)
    if (reply === undefined || attempt === undefined || attempt.digest === undefined) return
    // Only the members we sent our ticket to answer it (anyone else could steer our catch-up).
    if (!attempt.asked.some((p) => p.name === from.name)) {
      step.warnings.push({ kind: 'Dropped', detail: `candidate reply from ${from.name}, not asked` })
      return
    }
    const outcome = reply.outcome
    // A rate-limit answer comes before the member decoded our request: it names no ticket. Any
    // other answer must name ours.
    const rateLimited = outcome.kind === 'reject' && outcome.reason === 'RateLimited'
    if (!(rateLimited && reply.ticketDigest.length === 0) && !bytesEqual(reply.ticketDigest, attempt.digest))
      return
    if (outcome.kind === 'admit') {
      attempt.lastProgressAt = this.ctx.now
      const readmitted = attempt.readmitting
      attempt.readmitting = false
      const newAdmitter = !attempt.admitters.some((p) => p.name === from.name)
      if (newAdmitter) attempt.admitters.push(from)
      attempt.serverAgreed = Math.max(attempt.serverAgreed, outcome.agreedBlocks)
      if (this.ctx.role === 'requesting') {
        this.ctx.role = 'candidate'
        if (!this.engineBuilt) {
          this.engineBuilt = true
          this.construct(step, attempt.best!)
        } else if (this.epochsBehind(attempt.best!)) {
          // Admitted again (our last attempt timed out) while the section moved on by epochs: the
          // graph of our engine's epoch may be gone everywhere; start again at the last checkpoint.
          this.construct(step, attempt.best!)
        }
        attempt.server = from
        step.engine.push({ kind: 'catchUp', from })
        this.progress(step)
      } else if (this.ctx.role === 'candidate' && readmitted) {
        this.progress(step)
      } else if (this.ctx.role === 'ready') {
        // A member that admitted us late (it had deferred us), or again (it had forgotten us while
        // we replayed, and we presented our ticket again), needs our Ready too.
        this.sendReady(step, [from])
      }
    } else if (outcome.kind === 'defer') {
      // The member keeps our request and answers again when it fits (or refuses it once stale).
      attempt.lastProgressAt = this.ctx.now
    } else {
      attempt.refusedBy.add(from.name)
      if (outcome.reason === 'StaleTicket') attempt.staleBy.add(from.name)
      step.events.push({
        type: 'join:rejected',
        peer: this.ctx.us.publicId,
        by: from,
        reason: outcome.reason,
        retryAfterMs: outcome.retryAfterMs,
      })
      // Admitted, our ticket went stale before our Add (freshness only ends): no member votes it
      // any more, so a fresh ticket now rather than after a timeout (our engine is kept).
      const admitted = this.ctx.role === 'candidate' || this.ctx.role === 'ready'
      if (admitted && attempt.staleBy.size > maxFaulty(attempt.asked.length)) {
        this.restart(step)
        return
      }
      const judged = this.ctx.role === 'requesting' || attempt.readmitting
      if (judged && attempt.asked.every((p) => attempt.refusedBy.has(p.name))) {
        this.ctx.role = 'outsider'
        if (outcome.retryAfterMs < NEVER) attempt.retryAt = this.ctx.now + outcome.retryAfterMs
      }
    }
  }

  /**
   * Our observer engine is built: from the verified chain's last checkpoint if it has one (we
   * replay only the current epoch: docs/epochs.md §4), from genesis otherwise.
   */
  private construct(step: Step, best: NonNullable<Attempt['best']>): void {
    const { info, verified } = best
    const start = stateAtLastCheckpoint(this.ctx, info.record, info.chain)
    if (start !== undefined) this.ctx.state = start
    const state = this.ctx.state
    if (state === undefined) return
    step.engine.push({ kind: 'construct', section: verified.memberIds(), ...epochStartOf(state) })
  }

  /** The verified chain's last checkpoint is of a later epoch than the one our engine replays. */
  private epochsBehind(best: NonNullable<Attempt['best']>): boolean {
    const state = this.ctx.state
    if (state === undefined) return false
    return best.verified.epoch > state.epoch
  }

  /**
   * Our replay (not a member yet) folded a checkpoint: the old epoch's engine delivers nothing
   * more, so the host builds our observer engine in the new one and we pull it from our server
   * (our Add, if undecided, is re-cast there by the members).
   */
  crossedCheckpoint(step: Step): void {
    const state = this.ctx.state
    if (!this.engineBuilt || state === undefined) return
    step.engine.push({ kind: 'construct', section: state.memberIds(), ...epochStartOf(state) })
    const server = this.attempt?.server
    if (server !== undefined && (this.ctx.role === 'candidate' || this.ctx.role === 'ready'))
      step.engine.push({ kind: 'catchUp', from: server })
  }

  /** After replayed blocks: a stale ticket ends the candidacy; near the server's count, Ready. */
  progress(step: Step): void {
    const attempt = this.attempt
    const state = this.ctx.state
    if (attempt === undefined || state === undefined || attempt.digest === undefined) return
    if (
      attempt.record !== undefined &&
      state.isStaleHead(attempt.record.head, this.ctx.config.ticketMaxAge)
    ) {
      this.restart(step)
      return
    }
    // Replaying is progress until Ready; after it only our Add is (timed from the Ready).
    if (this.ctx.role !== 'candidate') return
    attempt.lastProgressAt = this.ctx.now
    if (state.seq === 0 || state.agreedBlocks + this.ctx.config.readyLag < attempt.serverAgreed) return
    // Members forget a candidate that sent no Ready within candidateTimeoutMs of admitting it, while
    // our replay of a long history counts as progress here. Past half of it (a Ready would still
    // have to reach them), present our ticket again instead: a member that forgot us judges it
    // again (every check, freshness included) and admits us, one that did not admits us at once
    // (restarting its timer), and either tells its current count of blocks: Ready then waits until
    // we are within readyLag of it, so we are not voted in far behind a section that moved on.
    if (this.ctx.now - attempt.requestedAt >= this.ctx.config.candidateTimeoutMs / 2) {
      this.presentAgain(step)
      return
    }
    if (attempt.readmitting) return
    const to = new Map<string, PublicId>()
    for (const id of [...attempt.asked, ...state.memberIds()]) to.set(id.name, id)
    if (this.sendReady(step, sortIds(to.values()))) this.ctx.role = 'ready'
  }

  /** A failed link to our catch-up server: continue from another member that admitted us. */
  transportFailed(peer: PublicId, step: Step): void {
    const attempt = this.attempt
    if (attempt?.server?.name !== peer.name || (this.ctx.role !== 'candidate' && this.ctx.role !== 'ready'))
      return
    const next = attempt.admitters.find((p) => p.name !== peer.name)
    if (next === undefined) return
    attempt.server = next
    step.engine.push({ kind: 'catchUp', from: next })
  }

  tick(step: Step): void {
    const attempt = this.attempt
    if (attempt === undefined) return
    const timedOut = this.ctx.now - attempt.lastProgressAt >= this.ctx.config.candidateTimeoutMs
    const retry =
      this.ctx.role === 'outsider' && attempt.retryAt !== undefined && this.ctx.now >= attempt.retryAt
    if (timedOut || retry) this.restart(step)
    else if (this.waitingForInfo(attempt) && this.ctx.now >= attempt.infoAskAt) {
      // No member answered yet (none serves before the genesis block is agreed, or our request was
      // lost): ask again, backing off, rather than wait out candidateTimeoutMs.
      attempt.infoRetryMs *= 2
      attempt.infoAskAt = this.ctx.now + attempt.infoRetryMs
      this.askContacts(attempt, step)
    }
  }

  private waitingForInfo(attempt: Attempt): boolean {
    return this.ctx.role === 'outsider' && attempt.best === undefined && attempt.contacts.length > 0
  }

  deadlines(): number[] {
    const attempt = this.attempt
    if (attempt === undefined) return []
    const out = [attempt.lastProgressAt + this.ctx.config.candidateTimeoutMs]
    if (this.ctx.role === 'outsider' && attempt.retryAt !== undefined) out.push(attempt.retryAt)
    if (this.waitingForInfo(attempt)) out.push(attempt.infoAskAt)
    return out
  }

  private newAttempt(contacts: readonly PublicId[]): Attempt {
    return {
      contacts: contacts.slice(0, MAX_CONTACTS),
      requestedAt: this.ctx.now,
      readmitting: false,
      asked: [],
      aheadAsked: new Set(),
      refusedBy: new Set(),
      staleBy: new Set(),
      admitters: [],
      serverAgreed: 0,
      lastProgressAt: this.ctx.now,
      infoAskAt: this.ctx.now + this.ctx.config.joinInfoRetryMs,
      infoRetryMs: this.ctx.config.joinInfoRetryMs,
    }
  }

  private askJoinInfo(step: Step): void {
    const attempt = this.attempt!
    attempt.lastProgressAt = this.ctx.now
    this.askContacts(attempt, step)
  }

  private askContacts(attempt: Attempt, step: Step): void {
    for (const contact of attempt.contacts)
      send(step, contact, { kind: 'joinInfoRequest', sectionId: this.ctx.sectionId })
  }

  /** From fresh JoinInfo, asking our contacts and the members of the chain we verified. */
  private restart(step: Step): void {
    const previous = this.attempt!
    // The verified members first: the contact list is bounded, and they are the ones to trust.
    const contacts = new Map<string, PublicId>()
    for (const m of previous.best?.verified.memberIds() ?? []) contacts.set(m.name, m)
    for (const c of sortIds(previous.contacts)) if (!contacts.has(c.name)) contacts.set(c.name, c)
    this.begin(step, [...contacts.values()])
    // Our contacts may all have left since (parsec#250): ask discovery for current members too.
    step.discovery.push({ kind: 'findMembers' })
  }

  private sendJoinRequest(step: Step): void {
    const attempt = this.attempt!
    const { info, verified } = attempt.best!
    const nonce = new Uint8Array(16)
    for (let i = 0; i < nonce.length; i++) nonce[i] = Math.floor(this.ctx.rng() * 256)
    const head = verified.head
    const powNonce = solvePow(
      { sectionId: this.ctx.sectionId, peer: this.ctx.us.publicId, head, nonce },
      info.powBits,
    )
    const request = signJoinRequest(this.ctx.us, {
      sectionId: this.ctx.sectionId,
      addrs: this.ctx.addrs,
      head,
      nonce,
      powNonce,
      ...(this.invitation === undefined ? {} : { invitation: this.invitation }),
    })
    attempt.request = request
    attempt.record = admissionRecordOf(request)
    attempt.digest = ticketDigest(attempt.record)
    attempt.requestedAt = this.ctx.now
    attempt.readmitting = false
    attempt.asked = verified.memberIds()
    attempt.refusedBy = new Set()
    attempt.staleBy = new Set()
    attempt.lastProgressAt = this.ctx.now
    this.ctx.role = 'requesting'
    for (const member of attempt.asked) send(step, member, request)
  }

  private presentAgain(step: Step): void {
    const attempt = this.attempt!
    if (attempt.request === undefined) return
    attempt.requestedAt = this.ctx.now
    attempt.readmitting = true
    attempt.refusedBy = new Set()
    attempt.staleBy = new Set()
    for (const member of attempt.asked) send(step, member, attempt.request)
  }

  /** Signs Ready for the blocks we replayed so far and sends it; false if we cannot yet. */
  private sendReady(step: Step, to: readonly PublicId[]): boolean {
    const state = this.ctx.state
    const digest = this.attempt?.digest
    if (state === undefined || digest === undefined) return false
    const k = state.agreedBlocks
    const historyDigest = state.historyDigest(k)
    if (historyDigest === undefined) return false
    const ready = signReady(this.ctx.us, {
      sectionId: this.ctx.sectionId,
      ticketDigest: digest,
      k,
      historyDigest,
    })
    for (const id of to) send(step, id, ready)
    return true
  }
}
