/**
 * What this package needs of the JavaScript runtime and does not install itself: libp2p 3 calls
 * `Promise.withResolvers` (Node 22; on Node 20 an application imports
 * `@parsec-section/p2p-section/polyfill` first). Checked where a node is made, so a missing
 * polyfill is one clear error rather than "not a function" deep inside libp2p.
 */
export function requirePromiseWithResolvers(): void {
  if (typeof (Promise as { withResolvers?: unknown }).withResolvers === 'function') return
  throw new TypeError(
    `Promise.withResolvers is missing (Node ${process.versions.node}); libp2p 3 needs it: ` +
      "import '@parsec-section/p2p-section/polyfill' before creating a node, or run Node 22 or later",
  )
}
