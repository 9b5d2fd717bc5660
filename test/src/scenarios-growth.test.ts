/** Spec §13.2 scenarios adding peers (joiners replay the history with `fromExisting`). */
import { describe } from 'node:test'
import { scenarioTest } from './scenario-harness.js'

describe('scenarios: adding peers', () => {
  scenarioTest('add-many-peers')
  scenarioTest('add-few-peers-and-vote')
  scenarioTest('add-many-peers-and-vote')
  scenarioTest('grow-network-from-two-nodes')
  scenarioTest('grow-network-from-one-node')
})
