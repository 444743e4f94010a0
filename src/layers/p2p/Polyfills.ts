/**
 * Polyfills libp2p 3 needs on Node 20. Import this module (for its side effect) before
 * anything that uses libp2p: `import "./Polyfills.ts"`. Installing is idempotent and leaves
 * a native implementation alone.
 */

declare global {
  interface PromiseConstructor {
    withResolvers<T>(): {
      promise: Promise<T>
      resolve: (value: T | PromiseLike<T>) => void
      reject: (reason?: unknown) => void
    }
  }
}

// Node 20 lacks Promise.withResolvers (ES2024); libp2p's streams and yamux call it.
if (typeof Promise.withResolvers !== "function") {
  Object.defineProperty(Promise, "withResolvers", {
    configurable: true,
    writable: true,
    value: function withResolvers<T>(this: PromiseConstructor) {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new this<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

export {}
