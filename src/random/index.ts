/**
 * The project's one source of randomness: a counter-based generator keyed by
 * (seed, purpose, epoch, step, entity id). A draw depends only on those coordinates and its index within the
 * stream, never on how work is split across threads, workers or shards (DESIGN.md §6).
 */
import { mulhi32, philox4x32 } from './philox.js';

export { philox4x32 } from './philox.js';

/** What a stream is for; each purpose gets its own key so streams never overlap. */
export type Purpose = 'init' | 'shuffle' | 'negative' | 'noise' | 'dropout' | 'mask' | 'simulate' | 'split' | 'eval';

/** FNV-1a over the purpose name: a stable 32-bit key word. */
export function purposeKey(purpose: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < purpose.length; i++) {
    h ^= purpose.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const TWO_POW_32 = 4294967296;

/**
 * A stream of draws at fixed coordinates. The counter is (epoch, step, entity, block index): the i-th uint32
 * of the stream is word (i mod 4) of block floor(i / 4).
 */
export class RandomStream {
  private readonly k0: number;
  private readonly k1: number;
  private block = 0;
  private used = 4;
  private readonly buf = new Uint32Array(4);

  constructor(
    seed: number,
    purpose: Purpose,
    private readonly epoch: number,
    private readonly step: number,
    private readonly entity: number,
  ) {
    this.k0 = seed >>> 0;
    this.k1 = purposeKey(purpose);
  }

  /** Next uniform uint32. */
  nextUint32(): number {
    if (this.used === 4) {
      philox4x32(this.k0, this.k1, this.epoch, this.step, this.entity, this.block++, this.buf);
      this.used = 0;
    }
    return this.buf[this.used++];
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), n < 2^32, without modulo bias (Lemire's multiply-and-reject). */
  nextInt(n: number): number {
    if (!(n >= 1 && n < TWO_POW_32)) throw new RangeError(`nextInt: n must be in [1, 2^32), got ${n}`);
    const threshold = (TWO_POW_32 - n) % n;
    for (;;) {
      const x = this.nextUint32();
      if (Math.imul(x, n) >>> 0 >= threshold) return mulhi32(x, n);
    }
  }

  /** Standard normal (Box–Muller, one of the pair). */
  nextNormal(): number {
    let u = this.nextFloat();
    while (u === 0) u = this.nextFloat();
    const v = this.nextFloat();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/** The generator of a run: hands out streams at coordinates. */
export class CounterRng {
  constructor(readonly seed: number) {}

  stream(purpose: Purpose, epoch = 0, step = 0, entity = 0): RandomStream {
    return new RandomStream(this.seed, purpose, epoch, step, entity);
  }

  /** A permutation of 0..n-1 (Fisher–Yates driven by one stream). */
  permutation(n: number, purpose: Purpose, epoch = 0, step = 0): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    const s = this.stream(purpose, epoch, step, 0);
    for (let i = n - 1; i > 0; i--) {
      const j = s.nextInt(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
