/**
 * The optional native kernels (native/, built by `npm ci` through scripts/build-native.mjs): sparse×dense
 * propagation and full-ranking scoring fused with the top-k, for where tfjs-wasm is too slow (DESIGN.md §4).
 * Everything works without them: `loadNative` answers null when the addon is absent, stale, fails to load,
 * or is disabled, and callers keep their TypeScript/wasm path.
 *
 * All functions work in place on caller-provided typed arrays and allocate nothing of size users×items.
 * Invalid arguments (wrong array type, lengths that do not match, indices out of range) throw TypeError or
 * RangeError before any work starts, so a kernel never reads or writes outside the arrays it is given.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The exported signatures' version; must equal `abiVersion` in native/camrec_native.cc. */
export const NATIVE_ABI_VERSION = 10;

/** Instruction sets the kernels are compiled for; the best one the CPU supports is chosen at load. */
export type NativeIsa = 'avx2' | 'generic';

/** The arguments of spmm (spmmThreaded adds a thread count). */
export type SpmmArgs = [
  indptr: Int32Array,
  indices: Int32Array,
  values: Float32Array | null,
  x: Float32Array,
  dim: number,
  out: Float32Array,
  rowStart: number,
  rowEnd: number,
];

/** The arguments of scoreTopK and scoreTopKAsync, in order (see scoreTopK). */
export type ScoreTopKArgs = [
  userEmb: Float32Array,
  users: Int32Array,
  itemEmb: Float32Array,
  nItems: number,
  dim: number,
  maskIndptr: Int32Array,
  maskIndices: Int32Array,
  k: number,
  outItems: Int32Array,
  outScores: Float32Array,
  threads: number,
];

/** The inputs of denoise and denoiseGrad, in order. */
export type DenoiseArgs = [
  h0: Float32Array,
  cond: Float32Array,
  noise: Float32Array | null,
  signal: Float32Array,
  noiseScale: Float32Array | null,
  steps: Int32Array,
  wNoisy: Float32Array,
  wCond: Float32Array,
  stepEmb: Float32Array,
  bias: Float32Array,
  wOut: Float32Array,
  outBias: Float32Array,
];

/** The arguments of normalRows, uniformRows (width: values per row) and intPerRow (width: the range n). */
export type NoiseArgs<T extends Float32Array | Int32Array> = [
  seed: number,
  purposeKey: number,
  epoch: number,
  step: number,
  entityOffset: number,
  width: number,
  out: T,
  threads: number,
];

export interface NativeKernels {
  readonly abiVersion: number;
  /** Instruction sets this CPU can run, best first. */
  readonly isas: readonly NativeIsa[];
  /** The instruction set in use in this thread's Node environment. */
  isa(): NativeIsa;
  /** Selects an instruction set from `isas` for this Node environment (tests compare them). */
  setIsa(isa: NativeIsa): void;
  /**
   * out[r, :] = Σ_j A[r, j] · x[j, :] for r in [rowStart, rowEnd), A in CSR form (binary when values is null),
   * x and out row-major with `dim` columns; out is indexed by the absolute row r and must not overlap x.
   * Each output row is summed in CSR order, so results do not depend on how rows are split over threads.
   */
  spmm(...args: SpmmArgs): void;
  /** `spmm` over `threads` threads, rows split into contiguous ranges of about equal nnz. */
  spmmThreaded(...args: [...SpmmArgs, threads: number]): void;
  /**
   * out[p] = ⟨a[r, :], b[indices[p], :]⟩ for every stored entry p of rows r in [rowStart, rowEnd) of a CSR
   * pattern (the sampled dense–dense product), a and b row-major with `dim` columns, over `threads` threads
   * (rows split by nnz). Each entry is summed on its own, so results do not depend on the split; out must not
   * overlap a or b.
   */
  sddmm(
    indptr: Int32Array,
    indices: Int32Array,
    a: Float32Array,
    b: Float32Array,
    dim: number,
    out: Float32Array,
    rowStart: number,
    rowEnd: number,
    threads: number,
  ): void;
  /**
   * out[i] = tanh(x[i]), within a few float32 ulp (a rational approximation, Eigen's), NaN kept, over
   * `threads` threads; each element is computed on its own, so results do not depend on the split. out may be x.
   */
  tanh(x: Float32Array, out: Float32Array, threads: number): void;
  /** out[i] = exp(x[i]), within 2 float32 ulp (Cephes' expf; std::exp outside [-87, 88] and for NaN), as tanh. */
  exp(x: Float32Array, out: Float32Array, threads: number): void;
  /**
   * For each row r of z [rows, cols] (row-major): max[r] = max_s scale·z[r, s] (NaN if any is NaN), then in place
   * z[r, s] = exp(scale·z[r, s] − max[r]) (as exp), and sums[r] = Σ_s z[r, s], summed in double: the numerators
   * and denominators of a row softmax of scaled scores, with log Σ_s exp(scale·z[r, s]) = max[r] + log sums[r].
   */
  expShiftedRows(z: Float32Array, rows: number, cols: number, scale: number, max: Float32Array, sums: Float32Array): void;
  /** out[j] = scale · Σ_r x[r, j] for x [rows, cols] row-major, each column summed in double and rounded once. */
  columnSums(x: Float32Array, rows: number, cols: number, scale: number, out: Float32Array): void;
  /** out[r] = Σ_j x[r, j] for x [rows, cols], in float32 and column order: the bits of tfjs-wasm's Sum over inner axes. */
  rowSums(x: Float32Array, rows: number, cols: number, out: Float32Array): void;
  /**
   * out[ids[i], :] += x[i, :] for each i in order, rows of `inner` floats, negative ids dropped (a segment sum
   * into out, which the caller zeroes); every id must be below out.length / inner.
   */
  scatterAddRows(x: Float32Array, ids: Int32Array, inner: number, out: Float32Array): void;
  /** out[p] = scale[p] · values[ids[p]] for every p (ids, scale and out of one length; ids inside values). */
  gatherScaled(values: Float32Array, ids: Int32Array, scale: Float32Array, out: Float32Array): void;
  /** out[ids[p]] += scale[p] · values[p] for every p in order (ids, scale and values of one length; ids inside out). */
  scatterScaled(values: Float32Array, ids: Int32Array, scale: Float32Array, out: Float32Array): void;
  /**
   * For each listed user u = users[i]: the dot products of userEmb[u] with every item of itemEmb
   * ([nItems, dim]), the items in row u of the mask CSR (one row per user of userEmb) removed, the best k
   * by descending score with ties broken by the lower item id, written sorted to outItems/outScores row i
   * ([users.length, k]). A user with fewer than k rankable items gets item -1 and score -Infinity in the
   * remaining places; NaN and -Infinity scores are never ranked (as in src/eval/topk.ts). Scores live in a
   * per-thread buffer of a few users' rows (O(items)), never users × items. Packs a copy of itemEmb per call, so
   * call it with many users at once rather than one at a time.
   */
  scoreTopK(...args: ScoreTopKArgs): void;
  /**
   * `scoreTopK` off the event loop (a libuv thread plus threads − 1 of its own); resolves once the outputs
   * are written. Leave every array alone until then. Invalid arguments throw synchronously.
   */
  scoreTopKAsync(...args: ScoreTopKArgs): Promise<void>;
  /**
   * c = op(a)·op(b), op(a) [m, k] and op(b) [k, n], everything row-major float32; op(a) = aᵀ when transA is 1
   * (a stored [k, m]), op(b) = bᵀ when transB is 1 (b stored [n, k]). c is overwritten and must not overlap a
   * or b. Register-tiled for tall, skinny operands; results do not depend on `threads` (aᵀ·b sums its rows in
   * a fixed number of groups, added in order).
   */
  gemm(a: Float32Array, b: Float32Array, c: Float32Array, m: number, k: number, n: number, transA: 0 | 1, transB: 0 | 1, threads: number): void;
  /**
   * One Adam step on rows `ids` of the [rows, dim] tables p, m, v (every row, in order, when ids is null), g
   * holding one row per id; each element computed in double precision exactly as src/train/optimizer.ts's
   * loop does, so the results are the same bits. No array may overlap another.
   */
  adamRows(
    p: Float32Array,
    m: Float32Array,
    v: Float32Array,
    ids: Int32Array | null,
    g: Float32Array,
    dim: number,
    beta1: number,
    beta2: number,
    stepSize: number,
    sqrtBc2: number,
    eps: number,
  ): void;
  /** One Adagrad step, as adamRows (s the accumulated squares). */
  adagradRows(p: Float32Array, s: Float32Array, ids: Int32Array | null, g: Float32Array, dim: number, lr: number, eps: number): void;
  /**
   * out[k, :] = narrow(src[rows[k], :]) for the rows of out (src's rows in order when rows is null), rows of `dim`
   * values: float32 to bfloat16 (kind 1) or binary16 (kind 2), round to nearest even, the same bits as
   * src/paramserver/encoding.ts narrowRowsReference.
   */
  narrowRows(src: Float32Array, dim: number, rows: Int32Array | null, out: Uint16Array, kind: 1 | 2): void;
  /** out[rows[k], :] = widen(src[k, :]) for the rows of src (in order when rows is null): exact, as widenRowsReference. */
  widenRows(src: Uint16Array, dim: number, rows: Int32Array | null, out: Float32Array, kind: 1 | 2): void;
  /**
   * The blocked InfoNCE of x against y ([rows, dim] each; src/compute/kernels/infonce.ts has the formulas), rows cut
   * into blocks of `block`, and its gradients, written to gx and gy; returns the loss. Products on the gemm over
   * `threads` threads; results do not depend on them.
   */
  infoNce(x: Float32Array, y: Float32Array, rows: number, dim: number, temperature: number, block: number, gx: Float32Array, gy: Float32Array, threads: number): number;
  /**
   * CaMRec's binary concrete edge gate: rho[e] = σ((logits[e] + log u_e − log(1 − u_e))/τ), the logistic noise
   * computed in double from the float uniform and rounded once (as src/models/modules/edge-mask.ts computes it);
   * σ(logits/τ) when uniforms is null. Over `threads` threads (each edge on its own: the same bits on any count).
   */
  concreteGate(logits: Float32Array, uniforms: Float32Array | null, temperature: number, rho: Float32Array, threads: number): void;
  /** The gate's gradient in its logits: out = (dy·ρ(1 − ρ))/τ, over `threads` threads. */
  concreteGateGrad(dy: Float32Array, rho: Float32Array, temperature: number, out: Float32Array, threads: number): void;
  /**
   * The layer mean of a propagation (LightGCN eq. 8), elementwise as tfjs's AddN chain and RealDiv compute it:
   * out = (((layers[0] + layers[1]) + …) + layers[n−1])/divisor. out may be one of the layers.
   */
  layerMean(layers: Float32Array[], divisor: number, out: Float32Array): void;
  /**
   * The gradient the tape accumulates into a layer read by the mean and by one more op: out = (dLayer +
   * dMean/divisor) + out, elementwise (dLayer null: dMean/divisor + out; accumulate 0: without the trailing + out).
   */
  layerGradient(dLayer: Float32Array | null, dMean: Float32Array, divisor: number, accumulate: 0 | 1, out: Float32Array): void;
  /**
   * CaMRec's denoiser with its noising and loss (src/compute/kernels/denoise.ts has the formulas): writes est [n, d]
   * and act [n, h], returns the loss. n = steps.length, d = outBias.length, h = bias.length; noise and noiseScale
   * are both null (h_t = signal ⊙ h0) or both given. Products on the gemm over `threads` threads.
   */
  denoise(...args: [...DenoiseArgs, est: Float32Array, act: Float32Array, threads: number]): number;
  /** The eight gradients of ⟨dEst, est⟩ + dLoss·loss (the loss's target h0 constant), all written. */
  denoiseGrad(
    ...args: [
      ...DenoiseArgs,
      est: Float32Array,
      act: Float32Array,
      dEst: Float32Array,
      dLoss: number,
      dh0: Float32Array,
      dCond: Float32Array,
      dWNoisy: Float32Array,
      dWCond: Float32Array,
      dStepEmb: Float32Array,
      dBias: Float32Array,
      dWOut: Float32Array,
      dOutBias: Float32Array,
      threads: number,
    ]
  ): void;
  /**
   * CaMRec's edge-mask MLP (src/compute/kernels/edge-mlp.ts) over a user-major edge list in CSR form (indptr over
   * users, items): omega[e] = outBias + Σ_j wo[j]·ReLU(a[u_e, j] + bias[j] + b[i_e, j]), a and b row-major with
   * h = bias.length columns, over `threads` threads (users in blocks of about equal edges; each ω on its own).
   */
  edgeMlp(indptr: Int32Array, items: Int32Array, a: Float32Array, b: Float32Array, bias: Float32Array, wo: Float32Array, outBias: number, omega: Float32Array, threads: number): void;
  /**
   * The gradients of Σ_e g_e·ω_e in a (ga, zero past the users), b (gb), bias, wo (gOut) and outBias (gOutBias, one
   * float), all written. ga does not depend on the threads; gb, gBias and gOut only through the order in which the
   * threads' partial sums are added.
   */
  edgeMlpGrad(
    indptr: Int32Array,
    items: Int32Array,
    a: Float32Array,
    b: Float32Array,
    bias: Float32Array,
    wo: Float32Array,
    g: Float32Array,
    ga: Float32Array,
    gb: Float32Array,
    gBias: Float32Array,
    gOut: Float32Array,
    gOutBias: Float32Array,
    threads: number,
  ): void;
  /**
   * The noise of src/models/modules/noise.ts at (seed, purposeKey, epoch, step), row r being entity
   * entityOffset + r: out.length / dim rows of `dim` standard normals (Box–Muller in double, the C library's log,
   * cos and sin), over `threads` threads; each row is drawn on its own, so the split changes nothing.
   */
  normalRows(...args: NoiseArgs<Float32Array>): void;
  /** out.length / count rows of `count` uniforms in (0, 1), the bits of the TypeScript generator's. */
  uniformRows(...args: NoiseArgs<Float32Array>): void;
  /** One integer in [0, n) per entry of out (from the row's second Philox block), the TypeScript generator's. */
  intPerRow(...args: NoiseArgs<Int32Array>): void;
  /**
   * Sets glibc malloc's mmap and trim thresholds in bytes (mallopt); true when glibc took both, false where
   * malloc is not glibc's. Throws RangeError when glibc refuses a value.
   */
  tuneAllocator(mmapThreshold: number, trimThreshold: number): boolean;
  /**
   * How many helper threads the process's pool holds. Threaded kernels share one pool that outlives the calls
   * (grown to the most helpers any call has asked for, `threads` − 1), so a call starts no thread of its own.
   */
  helperThreads(): number;
}

export interface LoadNativeOptions {
  /** The CLI sets this from `CAMREC_NATIVE=0` (or a flag): no native code is loaded. */
  disabled?: boolean;
  /** The addon file; defaults to build/Release/camrec_native.node under the package root. */
  addonPath?: string;
}

/** What `probeNative` found: the kernels, or null and why not (for the CLI's log line). */
export type NativeProbe = { kernels: NativeKernels; reason: null } | { kernels: null; reason: string };

const BUILD = 'build it with `node scripts/build-native.mjs`';

/** The nearest folder above this module that holds package.json (works from src/ and from dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return dirname(fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

export function defaultAddonPath(): string {
  return join(packageRoot(), 'build', 'Release', 'camrec_native.node');
}

/** Loads the addon and says why when it does not; never throws. */
export function probeNative(options: LoadNativeOptions = {}): NativeProbe {
  if (options.disabled) return { kernels: null, reason: 'native kernels disabled' };
  const path = options.addonPath ?? defaultAddonPath();
  if (!existsSync(path)) return { kernels: null, reason: `native addon not built (${path} is absent; ${BUILD})` };
  let kernels: NativeKernels;
  try {
    kernels = createRequire(import.meta.url)(path) as NativeKernels;
  } catch (err) {
    return { kernels: null, reason: `native addon ${path} failed to load: ${(err as Error).message}` };
  }
  if (kernels.abiVersion !== NATIVE_ABI_VERSION) {
    const found = String(kernels.abiVersion);
    return { kernels: null, reason: `native addon ${path} has ABI version ${found}, expected ${NATIVE_ABI_VERSION}; ${BUILD}` };
  }
  return { kernels, reason: null };
}

/** The native kernels, or null when they are absent, stale, fail to load, or are disabled. */
export function loadNative(options: LoadNativeOptions = {}): NativeKernels | null {
  return probeNative(options).kernels;
}
