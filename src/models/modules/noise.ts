/**
 * Bulk noise for a training step, drawn from the run's counter-based generator (DESIGN.md §6): the draws for
 * entity e (an item, an edge) depend only on (seed, purpose, epoch, step, e), never on how the work is split.
 * One Philox4x32-10 block at those coordinates seeds a xoshiro128** sequence for the entity's row (Blackman &
 * Vigna 2021): a row of d normals then costs one Philox block and d/2 cheap steps instead of d/2 Philox
 * blocks, which matters at 10⁵–10⁶ draws per step. Normals are Box–Muller pairs (both of the pair).
 * With the native addon the same draws run there (native/noise.cc, over the compute pool's thread count; with
 * AVX2 the normals' log, cos and sin four at a time on glibc's libmvec where it loads): uniforms and integers are the same bits,
 * normals too unless the C library's log, cos or sin and V8's differ in a double's last bits right at a float32
 * rounding boundary (never seen: test/native/noise.test.ts).
 */
import { computePool, nativeKernels, type NoiseArgs } from '../../compute/index.js';
import { philox4x32, purposeKey, type Purpose } from '../../random/index.js';

const TWO_POW_32 = 4294967296;

export interface NoiseCoordinates {
  readonly seed: number;
  readonly purpose: Purpose;
  readonly epoch: number;
  readonly step: number;
}

/** xoshiro128** seeded from one Philox block; its state is never all zero. */
class RowGenerator {
  private readonly s = new Uint32Array(4);
  private readonly k1: number;

  constructor(private readonly at: NoiseCoordinates) {
    this.k1 = purposeKey(at.purpose);
  }

  /** Restarts the sequence at entity `e` (block `block` of its Philox counter). */
  seat(e: number, block = 0): void {
    philox4x32(this.at.seed >>> 0, this.k1, this.at.epoch, this.at.step, e, block, this.s);
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  next(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in (0, 1): never exactly 0 or 1. */
  open01(): number {
    return (this.next() + 0.5) / TWO_POW_32;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The native addon's arguments for `out` at `at`. */
function nativeArgs<T extends Float32Array | Int32Array>(at: NoiseCoordinates, entityOffset: number, width: number, out: T): NoiseArgs<T> {
  return [at.seed >>> 0, purposeKey(at.purpose), at.epoch, at.step, entityOffset, width, out, computePool().threads];
}

/** [rows, dim] standard normals; row r is entity `entityOffset + r`. */
export function normalRows(at: NoiseCoordinates, rows: number, dim: number, entityOffset = 0): Float32Array {
  const native = nativeKernels();
  if (!native) return normalRowsReference(at, rows, dim, entityOffset);
  const out = new Float32Array(rows * dim);
  native.normalRows(...nativeArgs(at, entityOffset, dim, out));
  return out;
}

/** normalRows in TypeScript (the reference of the native kernel; used without the addon). */
export function normalRowsReference(at: NoiseCoordinates, rows: number, dim: number, entityOffset = 0): Float32Array {
  const out = new Float32Array(rows * dim);
  const g = new RowGenerator(at);
  for (let r = 0; r < rows; r++) {
    g.seat(entityOffset + r);
    const base = r * dim;
    for (let j = 0; j < dim; j += 2) {
      const radius = Math.sqrt(-2 * Math.log(g.open01()));
      const angle = 2 * Math.PI * g.open01();
      out[base + j] = radius * Math.cos(angle);
      if (j + 1 < dim) out[base + j + 1] = radius * Math.sin(angle);
    }
  }
  return out;
}

/** [rows, count] uniforms in (0, 1), `count` per entity. */
export function uniformRows(at: NoiseCoordinates, rows: number, count: number, entityOffset = 0): Float32Array {
  const native = nativeKernels();
  if (!native) return uniformRowsReference(at, rows, count, entityOffset);
  const out = new Float32Array(rows * count);
  native.uniformRows(...nativeArgs(at, entityOffset, count, out));
  return out;
}

/** uniformRows in TypeScript (the reference of the native kernel; used without the addon). */
export function uniformRowsReference(at: NoiseCoordinates, rows: number, count: number, entityOffset = 0): Float32Array {
  const out = new Float32Array(rows * count);
  const g = new RowGenerator(at);
  for (let r = 0; r < rows; r++) {
    g.seat(entityOffset + r);
    for (let j = 0; j < count; j++) out[r * count + j] = g.open01();
  }
  return out;
}

/** One uniform integer in [0, n) per entity (the diffusion step of each item), independent of its normals. */
export function intPerRow(at: NoiseCoordinates, rows: number, n: number, entityOffset = 0): Int32Array {
  const native = nativeKernels();
  if (!native) return intPerRowReference(at, rows, n, entityOffset);
  const out = new Int32Array(rows);
  native.intPerRow(...nativeArgs(at, entityOffset, n, out));
  return out;
}

/** intPerRow in TypeScript (the reference of the native kernel; used without the addon). */
export function intPerRowReference(at: NoiseCoordinates, rows: number, n: number, entityOffset = 0): Int32Array {
  const out = new Int32Array(rows);
  const g = new RowGenerator(at);
  for (let r = 0; r < rows; r++) {
    g.seat(entityOffset + r, 1); // another Philox block than the row's normals
    out[r] = Math.min(n - 1, Math.floor(g.open01() * n));
  }
  return out;
}
