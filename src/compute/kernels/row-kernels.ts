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

let simdBytes: Uint8Array | undefined;
let simdModule: WasmModule | undefined;

function rowKernelBytes(): Uint8Array {
  simdBytes ??= moduleWithSharedMemory(
    [{ name: 'spmm', params: new Array(8).fill(I32), locals: [...new Array(7).fill(I32), F32, V128], code: spmmCode() }],
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
  const spmm = instance.exports.spmm as (...args: number[]) => void;
  return { spmm: (args, start, end) => spmm(...args, start, end) };
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

/** The row kernels bound to `memory`: wasm SIMD when it validates (or as asked), else TypeScript loops. */
export function rowKernels(memory: WasmMemory, useSimd = simdSupported()): RowKernels {
  if (useSimd) return simdKernels(memory);
  return { spmm: spmmLoops(memory) };
}
