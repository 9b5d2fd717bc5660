import type { BlockDescription } from '@parsec-section/parsec-core'

/** One readable line per block. */
export function formatBlock(block: BlockDescription): string {
  const voters = `(${block.voters.length} vote${block.voters.length === 1 ? '' : 's'})`
  switch (block.kind) {
    case 'genesis':
      return `genesis {${block.peers.join(', ')}} ${voters}`
    case 'add':
      return `add ${block.peer} ${voters}`
    case 'remove':
      return `remove ${block.peer} ${voters}`
    case 'accusation':
      return `accusation ${block.offender} ${block.malice} ${voters}`
    case 'opaque':
      return `opaque ${block.payload.length > 40 ? `${block.payload.slice(0, 37)}...` : block.payload} ${voters}`
    case 'checkpoint':
      return `checkpoint ${block.payload.slice(0, 16)}... ${voters}`
  }
}
