/**
 * libp2p 3 uses `Promise.withResolvers` (ES2024), which Node 20 lacks; without it `createLibp2p`
 * throws "Promise.withResolvers is not a function". Imported first by this package's index.
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
