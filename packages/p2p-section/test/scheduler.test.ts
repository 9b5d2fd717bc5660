import assert from 'node:assert/strict'
import { describe, it, mock } from 'node:test'
import {
  Backoff,
  backlogForFastest,
  busyInterval,
  type GossipMode,
  type GossipSchedule,
  GossipScheduler,
} from '../src/scheduler.js'

const SCHEDULE: GossipSchedule = {
  intervalMs: 50,
  lightIntervalMs: 250,
  backlogForFastest: 100,
  idleIntervalMs: 1000,
  jitter: 0.3,
  maxPerSecond: 20,
  maxConcurrent: 4,
}

function harness(initial: GossipMode, backlog = 1, schedule = SCHEDULE, voters = 4) {
  let started = 0
  const state = { mode: initial, backlog }
  const scheduler = new GossipScheduler(schedule, {
    mode: () => state.mode,
    backlog: () => state.backlog,
    voters: () => voters,
    startExchange: () => {
      started++
      return true
    },
  })
  return {
    scheduler,
    state,
    started: () => started,
    reset: () => {
      started = 0
    },
  }
}

/** Advances the mocked clock by `ms` in steps, ending every exchange at once. */
function run(scheduler: GossipScheduler, ms: number, step = 10): void {
  for (let t = 0; t < ms; t += step) {
    mock.timers.tick(step)
    scheduler.exchangeDone()
  }
}

describe('gossip scheduler', () => {
  it('caps the rate however often it is forced', () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] })
    try {
      const { scheduler, started } = harness('busy', 500)
      scheduler.start()
      for (let t = 0; t < 3000; t++) {
        scheduler.nudge(true)
        mock.timers.tick(1)
        scheduler.exchangeDone()
      }
      assert.ok(started() <= 3 * 20 + 1, `${started()} exchanges in 3 s with a cap of 20/s`)
      assert.ok(started() >= 3 * 20 - 5, `${started()}: the cap is also reached`)
      scheduler.stop()
    } finally {
      mock.timers.reset()
    }
  })

  it('paces by the backlog, slowly when stalled, and not at all when idle', () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] })
    try {
      assert.equal(busyInterval(SCHEDULE, 1), 250)
      assert.equal(busyInterval(SCHEDULE, 100), 50)
      assert.equal(busyInterval(SCHEDULE, 5000), 50)
      const h = harness('busy', 1)
      h.scheduler.start()
      run(h.scheduler, 10_000)
      assert.ok(h.started() >= 28 && h.started() <= 56, `${h.started()} exchanges in 10 s at 250 ms ± 30%`)
      h.reset()
      h.state.backlog = 1000
      run(h.scheduler, 10_000)
      assert.ok(h.started() >= 150, `${h.started()} exchanges in 10 s with a large backlog`)
      h.reset()
      h.state.mode = 'stalled'
      run(h.scheduler, 10_000)
      assert.ok(h.started() >= 6 && h.started() <= 15, `${h.started()} stalled exchanges in 10 s`)
      h.reset()
      h.state.mode = 'idle'
      run(h.scheduler, 60_000, 100)
      assert.equal(h.started(), 0, 'nothing pending: no gossip')
      // News that makes us busy again brings the timer forward; a vote forces an exchange at once.
      h.state.mode = 'busy'
      h.state.backlog = 1
      h.scheduler.nudge()
      run(h.scheduler, 400)
      assert.ok(h.started() >= 1, 'busy again within one interval')
      h.state.mode = 'idle'
      run(h.scheduler, 2000)
      h.reset()
      h.scheduler.nudge(true)
      mock.timers.tick(1)
      assert.equal(h.started(), 1, 'a forced nudge starts an exchange at once')
      h.scheduler.stop()
      h.reset()
      mock.timers.tick(10_000)
      assert.equal(h.started(), 0, 'nothing after stop')
    } finally {
      mock.timers.reset()
    }
  })

  it('scales the busy pace with the number of voters, so a section makes as many exchanges at any size', () => {
    const scaled: GossipSchedule = { ...SCHEDULE, referenceVoters: 4 }
    // Up to the reference size: the schedule as it is.
    for (const voters of [1, 3, 4]) {
      assert.equal(busyInterval(scaled, 1, voters), 250)
      assert.equal(busyInterval(scaled, 100, voters), 50)
      assert.equal(backlogForFastest(scaled, voters), 100)
    }
    // 16 voters: 4x the fastest interval and 4x the backlog for it; the light pace stays.
    assert.equal(busyInterval(scaled, 1, 16), 250)
    assert.equal(busyInterval(scaled, 400, 16), 200)
    assert.equal(busyInterval(scaled, 100_000, 16), 200)
    assert.equal(backlogForFastest(scaled, 16), 400)
    // A backlog still speeds it up, monotonically.
    let previous = Number.POSITIVE_INFINITY
    for (const backlog of [1, 10, 50, 100, 200, 300, 400]) {
      const interval = busyInterval(scaled, backlog, 16)
      assert.ok(interval <= previous, `${interval} ms at backlog ${backlog} after ${previous} ms`)
      previous = interval
    }
    assert.ok(busyInterval(scaled, 200, 16) < 250 && busyInterval(scaled, 200, 16) > 200)
    // 64 voters: the scaled fastest interval (800 ms) is slower than the light one: it is the pace.
    assert.equal(busyInterval(scaled, 1, 64), 800)
    assert.equal(busyInterval(scaled, 1_000_000, 64), 800)
    // Section-wide exchanges per second at the fastest pace stay the same: 4 x 1000/50 = 16 x 1000/200.
    for (const voters of [4, 8, 16, 32]) assert.equal(voters * (1000 / busyInterval(scaled, 1e9, voters)), 80)
    // Without a reference size (or a nonsense one), no scaling.
    assert.equal(busyInterval(SCHEDULE, 100, 16), 50)
    assert.equal(busyInterval({ ...SCHEDULE, referenceVoters: 0 }, 100, 16), 50)
    assert.equal(backlogForFastest(SCHEDULE, 16), 100)
  })

  it('a larger section gossips less often per peer, and a backlog still speeds it up', () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] })
    try {
      const scaled: GossipSchedule = { ...SCHEDULE, referenceVoters: 4, maxPerSecond: 1000 }
      const small = harness('busy', 1_000_000, scaled, 4)
      const large = harness('busy', 1_000_000, scaled, 16)
      small.scheduler.start()
      run(small.scheduler, 10_000)
      small.scheduler.stop()
      large.scheduler.start()
      run(large.scheduler, 10_000)
      // 50 ms against 200 ms (± 30% jitter) over 10 s.
      assert.ok(small.started() >= 150 && small.started() <= 290, `${small.started()} exchanges at 4 voters`)
      assert.ok(large.started() >= 38 && large.started() <= 72, `${large.started()} exchanges at 16 voters`)
      large.reset()
      large.state.backlog = 1
      run(large.scheduler, 10_000)
      assert.ok(
        large.started() >= 28 && large.started() <= 56,
        `${large.started()} exchanges at the light pace`,
      )
      large.scheduler.stop()
    } finally {
      mock.timers.reset()
    }
  })

  it('an idle timer that fires after news made us busy starts an exchange (no extra wait)', () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] })
    const random = mock.method(Math, 'random', () => 0.5) // no jitter: idle 1000 ms, busy 250 ms
    try {
      const h = harness('idle', 1)
      h.scheduler.start()
      run(h.scheduler, 900)
      // 100 ms before the idle timer: the busy pace (250 ms) would not bring it forward.
      h.state.mode = 'busy'
      h.scheduler.nudge()
      run(h.scheduler, 250)
      assert.equal(h.started(), 1, 'an exchange within one busy interval of the news')
      h.scheduler.stop()
    } finally {
      random.mock.restore()
      mock.timers.reset()
    }
  })
})

describe('partner backoff', () => {
  it('doubles the wait on each failure, up to the cap; a success resets it', () => {
    const backoff = new Backoff(1_000, 4_000, 0)
    assert.equal(backoff.fail('p', 0), 1_000)
    assert.equal(backoff.fail('p', 0), 2_000)
    assert.equal(backoff.fail('p', 0), 4_000)
    assert.equal(backoff.fail('p', 0), 4_000)
    assert.ok(!backoff.ready('p', 3_999))
    backoff.succeed('p')
    assert.ok(backoff.ready('p', 0))
  })

  it('retryIn: a short wait that is not a failure (a partner still switching epochs)', () => {
    const backoff = new Backoff(1_000, 30_000, 0)
    backoff.retryIn('p', 50, 0)
    assert.ok(!backoff.ready('p', 49))
    assert.ok(backoff.ready('p', 50))
    assert.equal(backoff.failures('p'), 0)
    // A real failure afterwards starts from the base wait.
    assert.equal(backoff.fail('p', 100), 1_000)
  })
})
