// The parts of rocksdb-native (CommonJS, untyped) that Guts uses.
declare module "rocksdb-native" {
  interface Batch {
    get(key: Buffer): Promise<Buffer | null>
    tryPut(key: Buffer, value: Buffer): void
    tryDelete(key: Buffer): void
    tryFlush(): void
    flush(): Promise<void>
    destroy(): void
  }
  class RocksDB {
    constructor(path: string, opts?: Record<string, unknown>)
    ready(): Promise<void>
    close(): Promise<void>
    get(key: Buffer): Promise<Buffer | null>
    read(opts?: { capacity?: number }): Batch
    write(opts?: { capacity?: number }): Batch
    iterator(range: { gte?: Buffer; lt?: Buffer }): AsyncIterable<{ key: Buffer; value: Buffer }>
  }
  export default RocksDB
}
