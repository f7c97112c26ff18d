/**
 * Row kernels: the inner loops that the pool splits into row blocks. Each works on byte offsets into one shared
 * memory and computes rows [start, end) of its output, so any thread can take any block.
 * They are built as a small wasm SIMD module (4 floats per instruction), with plain TypeScript loops as the
 * fallback where wasm SIMD does not validate. Neither imports tfjs: worker threads load this file alone.
 */
import { MAX_PAGES } from '../heap.js';
import { Code, F32, I32, V128, moduleWithSharedMemory } from './wasm-asm.js';
import { type WasmMemory, type WasmModule, wasm } from './wasm-api.js';

/** args are offsets and sizes; a kernel computes output rows [start, end). */
export type RowKernel = (args: readonly number[], start: number, end: number) => void;

export interface RowKernels {
  /** y[r,:] = Σ_p values[p]·x[indices[p],:] over p in indptr[r]..indptr[r+1]; args: [indptr, indices, values, x, y, d]. */
  spmm: RowKernel;
  /**
   * The sampled dense–dense product (SDDMM) on a CSR pattern: out[p] = ⟨a[r,:], b[indices[p],:]⟩ for p in
   * indptr[r]..indptr[r+1]; args: [indptr, indices, a, b, out, d].
   */
  sddmm: RowKernel;
  /**
   * CaMRec's per-edge mask MLP (edge-mlp.ts), forward, over user rows of a user-major edge list: for each edge p
   * of user r, out[p] = b_o + Σ_j w_o[j]·ReLU(a[r,j] + b[items[p],j] + b_1[j]);
   * args: [indptr, items, a, b, bias, wo, out, h, outBias].
   */
  edgeMlp: RowKernel;
  /**
   * Its backward over chunks c (rows of this kernel are chunks): chunk c takes users chunkUsers[c] ..
   * chunkUsers[c+1]. For each edge p with g[p] ≠ 0 and each j with v = a[u,j] + b[i,j] + b_1[j] > 0, t = g[p]·w_o[j]:
   * ga[u,j] += t (rows of ga zeroed first, so ga is complete), gb_c[i,j] += t into chunk c's partial [nItems, h]
   * (zeroed first), gOut_c[j] += g[p]·v; then gBias_c[j] += ga[u,j] per user. sums holds per chunk [gOut_c; gBias_c];
   * args: [indptr, items, a, b, bias, wo, g, ga, gbPartials, sums, h, nItems, chunkUsers].
   */
  edgeMlpGrad: RowKernel;
  /** y[r,:] += x[r,:]; args: [y, x, d]. */
  addRows: RowKernel;
  /** y[r,:] *= s; args: [y, d, s]. */
  scaleRows: RowKernel;
  /**
   * One Adam step on rows of a table (Kingma & Ba, Algorithm 1, in PyTorch's arrangement, float32):
   * m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²; p ← p − stepSize · m / (√v · invSqrtBc2 + ε);
   * args: [p, m, v, g, d, β1, β2, stepSize, invSqrtBc2, ε].
   */
  adamRows: RowKernel;
}

export type RowKernelName = keyof RowKernels;

/** The same CSR row product in wasm SIMD: a row of y is zeroed, then each entry adds v·x[c,:] four floats at a time. */
function spmmCode(): Code {
  const [indptr, indices, values, x, y, d, r, end] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [rowBytes, vecBytes, yRow, p, pEnd, xRow, k, v, vv] = [8, 9, 10, 11, 12, 13, 14, 15, 16];
  const c = new Code();
  const at = (base: number): Code => c.get(base).get(k).add();
  c.get(d).i32(2).shl().set(rowBytes);
  c.get(d).i32(-4).and().i32(2).shl().set(vecBytes);
  c.forRange(r, end, 1, () => {
    c.get(y).get(r).get(rowBytes).mul().add().set(yRow);
    c.i32(0).set(k);
    c.forRange(k, vecBytes, 16, () => at(yRow).zeroV128().storeV128());
    c.forRange(k, rowBytes, 4, () => at(yRow).f32(0).storeF32());
    c.get(indptr).get(r).i32(2).shl().add().loadI32(0).set(p);
    c.get(indptr).get(r).i32(2).shl().add().loadI32(4).set(pEnd);
    c.forRange(p, pEnd, 1, () => {
      c.get(values).select(F32, () => c.get(values).get(p).i32(2).shl().add().loadF32(), () => c.f32(1)).set(v);
      c.get(v).splatF32x4().set(vv);
      c.get(x).get(indices).get(p).i32(2).shl().add().loadI32().get(rowBytes).mul().add().set(xRow);
      c.i32(0).set(k);
      c.forRange(k, vecBytes, 16, () => {
        at(yRow);
        at(yRow).loadV128();
        at(xRow).loadV128().get(vv).mulF32x4().addF32x4().storeV128();
      });
      c.forRange(k, rowBytes, 4, () => {
        at(yRow);
        at(yRow).loadF32();
        at(xRow).loadF32().get(v).mulF32().addF32().storeF32();
      });
    });
  });
  return c;
}

/**
 * SDDMM in wasm SIMD: each stored entry's dot product four floats at a time into one vector, whose lanes are
 * then added, then the scalar tail of a row of width d % 4.
 */
function sddmmCode(): Code {
  const [indptr, indices, a, b, out, d, r, end] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [rowBytes, vecBytes, aRow, p, pEnd, bRow, k, s, acc] = [8, 9, 10, 11, 12, 13, 14, 15, 16];
  const c = new Code();
  const at = (base: number): Code => c.get(base).get(k).add();
  c.get(d).i32(2).shl().set(rowBytes);
  c.get(d).i32(-4).and().i32(2).shl().set(vecBytes);
  c.forRange(r, end, 1, () => {
    c.get(a).get(r).get(rowBytes).mul().add().set(aRow);
    c.get(indptr).get(r).i32(2).shl().add().loadI32(0).set(p);
    c.get(indptr).get(r).i32(2).shl().add().loadI32(4).set(pEnd);
    c.forRange(p, pEnd, 1, () => {
      c.get(b).get(indices).get(p).i32(2).shl().add().loadI32().get(rowBytes).mul().add().set(bRow);
      c.zeroV128().set(acc);
      c.i32(0).set(k);
      c.forRange(k, vecBytes, 16, () => {
        c.get(acc);
        at(aRow).loadV128();
        at(bRow).loadV128().mulF32x4().addF32x4().set(acc);
      });
      c.get(acc).extractLaneF32x4(0).get(acc).extractLaneF32x4(1).addF32();
      c.get(acc).extractLaneF32x4(2).get(acc).extractLaneF32x4(3).addF32().addF32().set(s);
      c.forRange(k, rowBytes, 4, () => {
        c.get(s);
        at(aRow).loadF32();
        at(bRow).loadF32().mulF32().addF32().set(s);
      });
      c.get(out).get(p).i32(2).shl().add().get(s).storeF32();
    });
  });
  return c;
}

/** Zeroes `bytes` (a multiple of 4, left on the stack by `bytes`) at `base`, 16 then 4 at a time (locals k, kEnd). */
function zeroBytes(c: Code, base: number, bytes: () => void, k: number, kEnd: number): Code {
  c.i32(0).set(k);
  bytes();
  c.i32(-16).and().set(kEnd);
  c.forRange(k, kEnd, 16, () => c.get(base).get(k).add().zeroV128().storeV128());
  bytes();
  c.set(kEnd);
  return c.forRange(k, kEnd, 4, () => c.get(base).get(k).add().f32(0).storeF32());
}

/**
 * The vector part of a row: `body(offset)` emits one 16-byte step at byte offset k + offset (k a local); four
 * steps per iteration with constant memarg offsets (one address add per stream for four vectors: ≈ 10% faster
 * for the edge MLP backward, measured), then single steps to vecBytes. Leaves k at vecBytes.
 */
function unrolledVectors(c: Code, [k, vecBytes, quadEnd]: [number, number, number], body: (offset: number) => void): Code {
  c.get(vecBytes).i32(-64).and().set(quadEnd);
  c.i32(0).set(k);
  c.forRange(k, quadEnd, 64, () => [0, 16, 32, 48].forEach(body));
  return c.forRange(k, vecBytes, 16, () => body(0));
}

/**
 * The edge MLP forward in wasm SIMD: per edge, v = a[u] + b_1 + b[i] four lanes at a time, ReLU as v masked by
 * v > 0, times w_o into one vector accumulator whose lanes are added; then the scalar tail for h mod 4.
 */
function edgeMlpCode(): Code {
  const [indptr, items, a, b, bias, wo, out, h, outBias, r, end] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [rowBytes, vecBytes, aRow, p, pEnd, bRow, k, s, acc, v, vs] = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21];
  const c = new Code();
  const at = (base: number): Code => c.get(base).get(k).add();
  c.get(h).i32(2).shl().set(rowBytes);
  c.get(h).i32(-4).and().i32(2).shl().set(vecBytes);
  c.forRange(r, end, 1, () => {
    c.get(a).get(r).get(rowBytes).mul().add().set(aRow);
    c.get(indptr).get(r).i32(2).shl().add().loadI32(0).set(p);
    c.get(indptr).get(r).i32(2).shl().add().loadI32(4).set(pEnd);
    c.forRange(p, pEnd, 1, () => {
      c.get(b).get(items).get(p).i32(2).shl().add().loadI32().get(rowBytes).mul().add().set(bRow);
      c.zeroV128().set(acc);
      c.i32(0).set(k);
      c.forRange(k, vecBytes, 16, () => {
        at(aRow).loadV128().then(() => at(bias).loadV128()).addF32x4().then(() => at(bRow).loadV128()).addF32x4().set(v);
        c.get(acc).get(v).get(v).zeroV128().gtF32x4().andV128();
        at(wo).loadV128().mulF32x4().addF32x4().set(acc);
      });
      c.get(acc).extractLaneF32x4(0).get(acc).extractLaneF32x4(1).addF32();
      c.get(acc).extractLaneF32x4(2).get(acc).extractLaneF32x4(3).addF32().addF32().get(outBias).addF32().set(s);
      c.forRange(k, rowBytes, 4, () => {
        at(aRow).loadF32().then(() => at(bias).loadF32()).addF32().then(() => at(bRow).loadF32()).addF32().set(vs);
        c.get(vs).f32(0).gtF32().ifThen(() => c.get(s).get(vs).then(() => at(wo).loadF32()).mulF32().addF32().set(s));
      });
      c.get(out).get(p).i32(2).shl().add().get(s).storeF32();
    });
  });
  return c;
}

/** The edge MLP backward in wasm SIMD (see RowKernels.edgeMlpGrad); the mask v > 0 selects t and ReLU(v) lane-wise. */
function edgeMlpGradCode(): Code {
  const [indptr, items, a, b, bias, wo, g, ga, gbPartials, sums, h, nItems, chunkUsers, chunk, end] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
  ];
  const [rowBytes, vecBytes, gbBase, gOut, gBias, u, uEnd, aRow, gaRow, p, pEnd, bRow, gbRow, k, kEnd, quadEnd] = [
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
  ];
  const [ge, vs, ts, gv, v, m, t] = [31, 32, 33, 34, 35, 36, 37];
  const c = new Code();
  const at = (base: number): Code => c.get(base).get(k).add();
  /** base[k + off] += value, as vectors. */
  const accumulateV = (base: number, off: number, value: () => void): void => {
    at(base);
    at(base).loadV128(off).then(value).addF32x4().storeV128(off);
  };
  /** base[k] += value, as floats. */
  const accumulate = (base: number, value: () => void): void => {
    at(base);
    at(base).loadF32().then(value).addF32().storeF32();
  };
  c.get(h).i32(2).shl().set(rowBytes);
  c.get(h).i32(-4).and().i32(2).shl().set(vecBytes);
  c.forRange(chunk, end, 1, () => {
    c.get(gbPartials).get(chunk).get(nItems).mul().get(rowBytes).mul().add().set(gbBase);
    c.get(sums).get(chunk).get(rowBytes).mul().i32(1).shl().add().tee(gOut).get(rowBytes).add().set(gBias);
    zeroBytes(c, gbBase, () => c.get(nItems).get(rowBytes).mul(), k, kEnd);
    zeroBytes(c, gOut, () => c.get(rowBytes).i32(1).shl(), k, kEnd);
    c.get(chunkUsers).get(chunk).i32(2).shl().add().loadI32(0).set(u);
    c.get(chunkUsers).get(chunk).i32(2).shl().add().loadI32(4).set(uEnd);
    c.forRange(u, uEnd, 1, () => {
      c.get(a).get(u).get(rowBytes).mul().add().set(aRow);
      c.get(ga).get(u).get(rowBytes).mul().add().set(gaRow);
      zeroBytes(c, gaRow, () => c.get(rowBytes), k, kEnd);
      c.get(indptr).get(u).i32(2).shl().add().loadI32(0).set(p);
      c.get(indptr).get(u).i32(2).shl().add().loadI32(4).set(pEnd);
      c.forRange(p, pEnd, 1, () => {
        c.get(g).get(p).i32(2).shl().add().loadF32().tee(ge).f32(0).neF32();
        c.ifThen(() => {
          c.get(ge).splatF32x4().set(gv);
          c.get(items).get(p).i32(2).shl().add().loadI32().get(rowBytes).mul().set(bRow);
          c.get(gbBase).get(bRow).add().set(gbRow);
          c.get(b).get(bRow).add().set(bRow);
          unrolledVectors(c, [k, vecBytes, quadEnd], (off) => {
            at(aRow).loadV128(off).then(() => at(bias).loadV128(off)).addF32x4().then(() => at(bRow).loadV128(off)).addF32x4().tee(v);
            c.zeroV128().gtF32x4().set(m);
            c.get(gv).then(() => at(wo).loadV128(off)).mulF32x4().get(m).andV128().set(t);
            accumulateV(gaRow, off, () => c.get(t));
            accumulateV(gbRow, off, () => c.get(t));
            accumulateV(gOut, off, () => c.get(gv).get(v).get(m).andV128().mulF32x4());
          });
          c.forRange(k, rowBytes, 4, () => {
            at(aRow).loadF32().then(() => at(bias).loadF32()).addF32().then(() => at(bRow).loadF32()).addF32().tee(vs);
            c.f32(0).gtF32().ifThen(() => {
              c.get(ge).then(() => at(wo).loadF32()).mulF32().set(ts);
              accumulate(gaRow, () => c.get(ts));
              accumulate(gbRow, () => c.get(ts));
              accumulate(gOut, () => c.get(ge).get(vs).mulF32());
            });
          });
        });
      });
      unrolledVectors(c, [k, vecBytes, quadEnd], (off) => accumulateV(gBias, off, () => at(gaRow).loadV128(off)));
      c.forRange(k, rowBytes, 4, () => accumulate(gBias, () => at(gaRow).loadF32()));
    });
  });
  return c;
}

/**
 * An elementwise pass over rows [start, end) of width d, four floats per instruction then a scalar tail:
 * `vector` and `scalar` emit the update of one vector / one float at byte offset `k` (a local).
 */
function rowsPass(
  c: Code,
  [d, start, end]: [number, number, number],
  [k, kEnd, vecEnd]: [number, number, number],
  vector: () => void,
  scalar: () => void,
): Code {
  c.get(start).get(d).mul().i32(2).shl().set(k);
  c.get(end).get(d).mul().i32(2).shl().set(kEnd);
  c.get(kEnd).get(kEnd).get(k).i32(-1).mul().add().i32(15).and().i32(-1).mul().add().set(vecEnd);
  c.forRange(k, vecEnd, 16, vector);
  c.forRange(k, kEnd, 4, scalar);
  return c;
}

/** y[r,:] += x[r,:] (params y, x, d, start, end; locals k, kEnd, vecEnd). */
function addRowsCode(): Code {
  const [y, x, d, start, end, k, kEnd, vecEnd] = [0, 1, 2, 3, 4, 5, 6, 7];
  const c = new Code();
  const at = (base: number): Code => c.get(base).get(k).add();
  return rowsPass(
    c,
    [d, start, end],
    [k, kEnd, vecEnd],
    () => at(y).then(() => at(y).loadV128()).then(() => at(x).loadV128().addF32x4().storeV128()),
    () => at(y).then(() => at(y).loadF32()).then(() => at(x).loadF32().addF32().storeF32()),
  );
}

/** y[r,:] *= s (params y, d, s, start, end; locals k, kEnd, vecEnd, sv). */
function scaleRowsCode(): Code {
  const [y, d, s, start, end, k, kEnd, vecEnd, sv] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const c = new Code();
  const at = (base: number): Code => c.get(base).get(k).add();
  c.get(s).splatF32x4().set(sv);
  return rowsPass(
    c,
    [d, start, end],
    [k, kEnd, vecEnd],
    () => at(y).then(() => at(y).loadV128().get(sv).mulF32x4().storeV128()),
    () => at(y).then(() => at(y).loadF32().get(s).mulF32().storeF32()),
  );
}

/** Adam over rows (params p m v g d b1 b2 stepSize invSqrtBc2 eps start end; locals k kEnd vecEnd, then vectors). */
function adamRowsCode(): Code {
  const [p, m, v, g, d, b1, b2, step, isb, eps, start, end] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [k, kEnd, vecEnd, gv, mv, vv, c1, c2] = [12, 13, 14, 15, 16, 17, 18, 19];
  const [vb1, vb2, vstep, visb, veps, vc1, vc2] = [20, 21, 22, 23, 24, 25, 26];
  const c = new Code();
  const at = (base: number): Code => c.get(base).get(k).add();
  c.f32(1).get(b1).subF32().set(c1);
  c.f32(1).get(b2).subF32().set(c2);
  for (const [src, dst] of [[b1, vb1], [b2, vb2], [step, vstep], [isb, visb], [eps, veps], [c1, vc1], [c2, vc2]]) {
    c.get(src).splatF32x4().set(dst);
  }
  const vector = () => {
    at(g).loadV128().set(gv);
    at(m).then(() => at(m).loadV128().get(vb1).mulF32x4().get(gv).get(vc1).mulF32x4().addF32x4().tee(mv)).storeV128();
    at(v).then(() => at(v).loadV128().get(vb2).mulF32x4().get(gv).get(gv).mulF32x4().get(vc2).mulF32x4().addF32x4().tee(vv));
    c.storeV128();
    at(p).then(() => at(p).loadV128().get(vstep).get(mv).mulF32x4());
    c.get(vv).sqrtF32x4().get(visb).mulF32x4().get(veps).addF32x4().divF32x4().subF32x4().storeV128();
  };
  const scalar = () => {
    const [gs, ms, vs] = [27, 28, 29];
    at(g).loadF32().set(gs);
    at(m).then(() => at(m).loadF32().get(b1).mulF32().get(gs).get(c1).mulF32().addF32().tee(ms)).storeF32();
    at(v).then(() => at(v).loadF32().get(b2).mulF32().get(gs).get(gs).mulF32().get(c2).mulF32().addF32().tee(vs)).storeF32();
    at(p).then(() => at(p).loadF32().get(step).get(ms).mulF32());
    c.get(vs).sqrtF32().get(isb).mulF32().get(eps).addF32().divF32().subF32().storeF32();
  };
  return rowsPass(c, [d, start, end], [k, kEnd, vecEnd], vector, scalar);
}

let simdBytes: Uint8Array | undefined;
let simdModule: WasmModule | undefined;

function rowKernelBytes(): Uint8Array {
  simdBytes ??= moduleWithSharedMemory(
    [
      { name: 'spmm', params: new Array(8).fill(I32), locals: [...new Array(7).fill(I32), F32, V128], code: spmmCode() },
      { name: 'sddmm', params: new Array(8).fill(I32), locals: [...new Array(7).fill(I32), F32, V128], code: sddmmCode() },
      {
        name: 'edgeMlp',
        params: [...new Array(8).fill(I32), F32, I32, I32],
        locals: [...new Array(7).fill(I32), F32, V128, V128, F32],
        code: edgeMlpCode(),
      },
      {
        name: 'edgeMlpGrad',
        params: new Array(15).fill(I32),
        locals: [...new Array(16).fill(I32), F32, F32, F32, V128, V128, V128, V128],
        code: edgeMlpGradCode(),
      },
      { name: 'addRows', params: new Array(5).fill(I32), locals: [I32, I32, I32], code: addRowsCode() },
      { name: 'scaleRows', params: [I32, I32, F32, I32, I32], locals: [I32, I32, I32, V128], code: scaleRowsCode() },
      {
        name: 'adamRows',
        params: [I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, I32, I32],
        locals: [I32, I32, I32, V128, V128, V128, F32, F32, ...new Array(7).fill(V128), F32, F32, F32],
        code: adamRowsCode(),
      },
    ],
    MAX_PAGES,
  );
  return simdBytes;
}

/** Whether this runtime validates our wasm SIMD module. */
export function simdSupported(): boolean {
  return wasm.validate(rowKernelBytes());
}

function simdKernels(memory: WasmMemory): RowKernels {
  simdModule ??= new wasm.Module(rowKernelBytes());
  const instance = new wasm.Instance(simdModule, { env: { memory } });
  const bind = (name: RowKernelName): RowKernel => {
    const f = instance.exports[name] as (...args: number[]) => void;
    return (args, start, end) => f(...args, start, end);
  };
  return {
    spmm: bind('spmm'),
    sddmm: bind('sddmm'),
    edgeMlp: bind('edgeMlp'),
    edgeMlpGrad: bind('edgeMlpGrad'),
    addRows: bind('addRows'),
    scaleRows: bind('scaleRows'),
    adamRows: bind('adamRows'),
  };
}

/** The CSR row product in plain TypeScript loops, over views of the shared memory. */
function spmmLoops(memory: WasmMemory): RowKernel {
  return ([indptr, indices, values, x, y, d], start, end) => {
    const buf = memory.buffer;
    const ip = new Int32Array(buf, indptr, end + 1);
    const cols = new Int32Array(buf, indices, ip[end]);
    const vals = values === 0 ? undefined : new Float32Array(buf, values, ip[end]);
    const xs = new Float32Array(buf, x);
    const ys = new Float32Array(buf, y);
    for (let row = start; row < end; row++) {
      const o = row * d;
      ys.fill(0, o, o + d);
      for (let q = ip[row]; q < ip[row + 1]; q++) {
        const w = vals ? vals[q] : 1;
        const b = cols[q] * d;
        for (let j = 0; j < d; j++) ys[o + j] += w * xs[b + j];
      }
    }
  };
}

/** SDDMM in plain TypeScript loops, over views of the shared memory. */
function sddmmLoops(memory: WasmMemory): RowKernel {
  return ([indptr, indices, a, b, out, d], start, end) => {
    const buf = memory.buffer;
    const ip = new Int32Array(buf, indptr, end + 1);
    const cols = new Int32Array(buf, indices, ip[end]);
    const as = new Float32Array(buf, a);
    const bs = new Float32Array(buf, b);
    const outs = new Float32Array(buf, out, ip[end]);
    for (let row = start; row < end; row++) {
      const o = row * d;
      for (let q = ip[row]; q < ip[row + 1]; q++) {
        const base = cols[q] * d;
        let sum = 0;
        for (let j = 0; j < d; j++) sum += as[o + j] * bs[base + j];
        outs[q] = sum;
      }
    }
  };
}

/** The edge MLP forward in plain TypeScript loops, over views of the shared memory. */
function edgeMlpLoops(memory: WasmMemory): RowKernel {
  return ([indptr, items, a, b, bias, wo, out, h, outBias], start, end) => {
    const buf = memory.buffer;
    const ip = new Int32Array(buf, indptr, end + 1);
    const [cols, outs] = [new Int32Array(buf, items, ip[end]), new Float32Array(buf, out, ip[end])];
    const [as, bs, b1, w] = [new Float32Array(buf, a), new Float32Array(buf, b), new Float32Array(buf, bias, h), new Float32Array(buf, wo, h)];
    for (let r = start; r < end; r++) {
      for (let p = ip[r]; p < ip[r + 1]; p++) {
        const [ua, ib] = [r * h, cols[p] * h];
        let s = outBias;
        for (let j = 0; j < h; j++) {
          const v = Math.fround(Math.fround(as[ua + j] + b1[j]) + bs[ib + j]);
          if (v > 0) s = Math.fround(s + Math.fround(v * w[j]));
        }
        outs[p] = s;
      }
    }
  };
}

/** The edge MLP backward in plain TypeScript loops (see RowKernels.edgeMlpGrad). */
function edgeMlpGradLoops(memory: WasmMemory): RowKernel {
  return ([indptr, items, a, b, bias, wo, g, ga, gbPartials, sums, h, nItems, chunkUsers], start, end) => {
    const buf = memory.buffer;
    const bounds = new Int32Array(buf, chunkUsers, end + 1);
    const ip = new Int32Array(buf, indptr);
    const [cols, gs] = [new Int32Array(buf, items), new Float32Array(buf, g)];
    const [as, bs, b1, w, gas] = [a, b, bias, wo, ga].map((ptr) => new Float32Array(buf, ptr));
    for (let c = start; c < end; c++) {
      const gb = new Float32Array(buf, gbPartials + c * nItems * h * 4, nItems * h).fill(0);
      const gOut = new Float32Array(buf, sums + c * 2 * h * 4, h).fill(0);
      const gBias = new Float32Array(buf, sums + (c * 2 + 1) * h * 4, h).fill(0);
      for (let u = bounds[c]; u < bounds[c + 1]; u++) {
        const ua = u * h;
        gas.fill(0, ua, ua + h);
        for (let p = ip[u]; p < ip[u + 1]; p++) {
          const ge = gs[p];
          if (ge === 0) continue;
          const ib = cols[p] * h;
          for (let j = 0; j < h; j++) {
            const v = Math.fround(Math.fround(as[ua + j] + b1[j]) + bs[ib + j]);
            if (!(v > 0)) continue;
            const t = Math.fround(ge * w[j]);
            gas[ua + j] += t;
            gb[ib + j] += t;
            gOut[j] += Math.fround(ge * v);
          }
        }
        for (let j = 0; j < h; j++) gBias[j] += gas[ua + j];
      }
    }
  };
}

/** The elementwise row kernels in plain TypeScript loops. */
function elementwiseLoops(memory: WasmMemory): Pick<RowKernels, 'addRows' | 'scaleRows' | 'adamRows'> {
  const f32 = (ptr: number, d: number, start: number, end: number) => new Float32Array(memory.buffer, ptr + start * d * 4, (end - start) * d);
  return {
    adamRows: ([p, m, v, g, d, b1, b2, step, isb, eps], start, end) => {
      const [ps, ms, vs, gs] = [p, m, v, g].map((x) => f32(x, d, start, end));
      for (let i = 0; i < ps.length; i++) {
        const gi = gs[i];
        const mi = (ms[i] = Math.fround(b1 * ms[i] + (1 - b1) * gi));
        const vi = (vs[i] = Math.fround(b2 * vs[i] + (1 - b2) * gi * gi));
        ps[i] -= (step * mi) / (Math.sqrt(vi) * isb + eps);
      }
    },
    addRows: ([y, x, d], start, end) => {
      const ys = new Float32Array(memory.buffer, y + start * d * 4, (end - start) * d);
      const xs = new Float32Array(memory.buffer, x + start * d * 4, (end - start) * d);
      for (let i = 0; i < ys.length; i++) ys[i] += xs[i];
    },
    scaleRows: ([y, d, s], start, end) => {
      const ys = new Float32Array(memory.buffer, y + start * d * 4, (end - start) * d);
      const f = Math.fround(s);
      for (let i = 0; i < ys.length; i++) ys[i] *= f;
    },
  };
}

/** The row kernels bound to `memory`: wasm SIMD when it validates (or as asked), else TypeScript loops. */
export function rowKernels(memory: WasmMemory, useSimd = simdSupported()): RowKernels {
  if (useSimd) return simdKernels(memory);
  return {
    spmm: spmmLoops(memory),
    sddmm: sddmmLoops(memory),
    edgeMlp: edgeMlpLoops(memory),
    edgeMlpGrad: edgeMlpGradLoops(memory),
    ...elementwiseLoops(memory),
  };
}
