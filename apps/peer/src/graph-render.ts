/**
 * The live gossip graph as a picture: DOT rendered to SVG by Graphviz compiled to WebAssembly
 * (`@hpcc-js/wasm-graphviz`), so it needs nothing but Node. Loaded on first use (about 2 MB of
 * WASM), then kept.
 */
import type { Graphviz } from '@hpcc-js/wasm-graphviz'

let graphviz: Promise<Graphviz> | undefined

export async function dotToSvg(dot: string): Promise<string> {
  if (graphviz === undefined) {
    graphviz = import('@hpcc-js/wasm-graphviz').then(({ Graphviz }) => Graphviz.load())
  }
  return (await graphviz).dot(dot, 'svg')
}
