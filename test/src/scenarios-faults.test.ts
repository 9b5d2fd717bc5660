/** Spec §13.2 scenarios with crash-faulty peers. */
import { describe } from 'node:test'
import { scenarioTest } from './scenario-harness.js'

describe('scenarios: crash faults', () => {
  scenarioTest('faulty-third-never-gossips')
  scenarioTest('faulty-third-terminate-concurrently')
  scenarioTest('faulty-nodes-terminate-at-random-points')
})
