/**
 * `import '@parsec-section/p2p-section/polyfill'`: the one module of this package that changes a
 * global, and only when imported on purpose. libp2p 3 calls `Promise.withResolvers` (ES2024),
 * which Node 20 lacks (Node 22 has it); without it `createLibp2p` throws "Promise.withResolvers
 * is not a function". An application on Node 20 imports this first; importing the package itself
 * changes nothing (`parsecSection` and the node factories say what is missing instead).
 */
interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const promise = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> }
if (typeof promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: <T>(): Resolvers<T> => {
      let resolve!: Resolvers<T>['resolve']
      let reject!: Resolvers<T>['reject']
      const created = new Promise<T>((a, b) => {
        resolve = a
        reject = b
      })
      return { promise: created, resolve, reject }
    },
  })
}

export {}
