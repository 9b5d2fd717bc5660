/** Spec §13.2 scenarios removing peers, alone or mixed with adds and crashes. */
import { describe } from 'node:test'
import { scenarioTest } from './scenario-harness.js'

describe('scenarios: removing peers', () => {
  scenarioTest('remove-one-peer')
  scenarioTest('remove-many-peers-at-once')
  scenarioTest('fail-add-remove')
  scenarioTest('extensive-dynamic-membership')
})
