import assert from 'node:assert/strict'
import { describe, it, mock } from 'node:test'
import { GossipScheduler } from '../src/scheduler.js'

describe('gossip scheduler', () => {
  it('caps the rate however often it is nudged, and gossips slowly when idle', () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] })
    try {
      let started = 0
      let active = true
      const scheduler = new GossipScheduler(
        { intervalMs: 50, idleIntervalMs: 1000, jitter: 0.3, maxPerSecond: 20, maxConcurrent: 4 },
        {
          isActive: () => active,
          startExchange: () => {
            started++
            return true
          },
        },
      )
      scheduler.start()
      // A storm of news: nudged every millisecond for 3 s.
      for (let t = 0; t < 3000; t++) {
        scheduler.nudge()
        mock.timers.tick(1)
        scheduler.exchangeDone()
      }
      assert.ok(started <= 3 * 20 + 1, `${started} exchanges in 3 s with a cap of 20/s`)
      assert.ok(started >= 3 * 20 - 5, `${started}: the cap is also reached`)
      active = false
      started = 0
      for (let t = 0; t < 100; t++) {
        mock.timers.tick(100)
        scheduler.exchangeDone()
      }
      assert.ok(started >= 6 && started <= 15, `${started} idle exchanges in 10 s`)
      scheduler.stop()
      started = 0
      mock.timers.tick(10_000)
      assert.equal(started, 0, 'nothing after stop')
    } finally {
      mock.timers.reset()
    }
  })
})
