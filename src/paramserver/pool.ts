/**
 * Spare message buffers. A parameter-server message is megabytes; a fresh buffer per call costs page faults to
 * touch it and makes V8 collect garbage more often (it counts array buffers toward its limits), so the client
 * encodes its Prepare/Push messages and the shard its Pull replies into buffers reused once grpc-js has copied
 * them into its frame (docs/paramserver.md "Wire codec").
 */
export class BufferPool {
  /** Free buffers, smallest first. */
  private readonly free: ArrayBuffer[] = [];

  constructor(private readonly keep: number) {}

  /** The smallest free buffer of at least `bytes` bytes, or a new one with some room to grow. */
  take(bytes: number): ArrayBuffer {
    const k = this.free.findIndex((b) => b.byteLength >= bytes);
    if (k >= 0) return this.free.splice(k, 1)[0];
    return Buffer.allocUnsafeSlow(Math.ceil(bytes * 1.125)).buffer;
  }

  /** Takes a buffer back; when more than `keep` are free, the smallest go. */
  give(b: ArrayBuffer): void {
    this.free.push(b);
    this.free.sort((x, y) => x.byteLength - y.byteLength);
    if (this.free.length > this.keep) this.free.splice(0, this.free.length - this.keep);
  }
}
