/** Peer names of the simulator (spec §13.1): Alice, Bob, … Zara, then "10", "11", … */
export const PEER_NAMES: readonly string[] = [
  'Alice',
  'Bob',
  'Carol',
  'Dave',
  'Eric',
  'Fred',
  'Gina',
  'Hank',
  'Iris',
  'Judy',
  'Kent',
  'Lucy',
  'Mike',
  'Nina',
  'Oran',
  'Paul',
  'Quin',
  'Rose',
  'Stan',
  'Tina',
  'Ursa',
  'Vera',
  'Walt',
  'Xena',
  'Yuri',
  'Zara',
]

/** The name of the `index`-th peer (0-based). */
export function peerName(index: number): string {
  return index < PEER_NAMES.length ? PEER_NAMES[index] : String(index - PEER_NAMES.length + 10)
}
