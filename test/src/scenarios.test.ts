/** Spec §13.2 scenarios without faults or membership changes: votes, duplicates, delays, Single mode. */
import { describe } from 'node:test'
import { scenarioTest } from './scenario-harness.js'

describe('scenarios: voting', () => {
  scenarioTest('minimal-network')
  scenarioTest('multiple-votes-before-gossip')
  scenarioTest('multiple-votes-during-gossip')
  scenarioTest('duplicate-vote-is-reduced-to-single')
  scenarioTest('random-schedule-no-delays')
  scenarioTest('consensus-mode-single')
  scenarioTest('consensus-mode-single-all-vote-same')
  scenarioTest('agreement-under-various-conditions')
})
