/**
 * A minimal WebAssembly binary writer: only the instructions our SIMD row kernels need.
 * Writing the few kernels as readable instruction sequences keeps them reviewable and needs no toolchain
 * at install time (DESIGN.md §4: nothing that `npm ci` must build or download).
 * Binary format: https://webassembly.github.io/spec/core/binary/ (SIMD: the fixed-width SIMD proposal).
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof V128;

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  let rest = n >>> 0;
  do {
    let byte = rest & 0x7f;
    rest >>>= 7;
    if (rest !== 0) byte |= 0x80;
    out.push(byte);
  } while (rest !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(n: number): number[] {
  const out: number[] = [];
  let rest = n | 0;
  for (;;) {
    const byte = rest & 0x7f;
    rest >>= 7;
    const done = (rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** memarg with a 4-byte alignment hint: our float rows are only guaranteed 4-byte aligned. */
function memarg(offset: number): number[] {
  return [2, ...uleb(offset)];
}

const SIMD = 0xfd;

/** An instruction sequence for one function body. Methods append and return `this`. */
export class Code {
  readonly bytes: number[] = [];

  private op(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }

  get(local: number): this {
    return this.op(0x20, ...uleb(local));
  }
  set(local: number): this {
    return this.op(0x21, ...uleb(local));
  }
  i32(c: number): this {
    return this.op(0x41, ...sleb(c));
  }
  f32(c: number): this {
    return this.op(0x43, ...new Uint8Array(new Float32Array([c]).buffer));
  }
  add(): this {
    return this.op(0x6a);
  }
  mul(): this {
    return this.op(0x6c);
  }
  shl(): this {
    return this.op(0x74);
  }
  and(): this {
    return this.op(0x71);
  }
  loadI32(offset = 0): this {
    return this.op(0x28, ...memarg(offset));
  }
  loadF32(offset = 0): this {
    return this.op(0x2a, ...memarg(offset));
  }
  storeF32(offset = 0): this {
    return this.op(0x38, ...memarg(offset));
  }
  addF32(): this {
    return this.op(0x92);
  }
  mulF32(): this {
    return this.op(0x94);
  }
  loadV128(offset = 0): this {
    return this.op(SIMD, 0x00, ...memarg(offset));
  }
  storeV128(offset = 0): this {
    return this.op(SIMD, 0x0b, ...memarg(offset));
  }
  zeroV128(): this {
    return this.op(SIMD, 0x0c, ...new Array<number>(16).fill(0));
  }
  splatF32x4(): this {
    return this.op(SIMD, 0x13);
  }
  addF32x4(): this {
    return this.op(SIMD, ...uleb(0xe4));
  }
  mulF32x4(): this {
    return this.op(SIMD, ...uleb(0xe6));
  }
  subF32x4(): this {
    return this.op(SIMD, ...uleb(0xe5));
  }
  divF32x4(): this {
    return this.op(SIMD, ...uleb(0xe7));
  }
  sqrtF32x4(): this {
    return this.op(SIMD, ...uleb(0xe3));
  }
  /** f32x4.extract_lane: one float of the vector at the top of the stack. */
  extractLaneF32x4(lane: number): this {
    return this.op(SIMD, 0x1f, lane);
  }
  subF32(): this {
    return this.op(0x93);
  }
  divF32(): this {
    return this.op(0x95);
  }
  sqrtF32(): this {
    return this.op(0x91);
  }
  tee(local: number): this {
    return this.op(0x22, ...uleb(local));
  }
  /** f32.gt: 1 when the first float is greater than the second (false for NaN). */
  gtF32(): this {
    return this.op(0x5e);
  }
  /** f32.ne: 1 unless the floats are equal (true for NaN). */
  neF32(): this {
    return this.op(0x5c);
  }
  /** f32x4.gt: per lane, all ones where the first vector's lane is greater (false for NaN), else zeros. */
  gtF32x4(): this {
    return this.op(SIMD, ...uleb(0x44));
  }
  /** v128.and: bitwise, e.g. a vector masked by a comparison. */
  andV128(): this {
    return this.op(SIMD, ...uleb(0x4e));
  }
  /** i32.sub. */
  sub(): this {
    return this.op(0x6b);
  }

  /** Emits `f`'s instructions in sequence (for readable chains). */
  then(f: () => void): this {
    f();
    return this;
  }

  /** `cond ? then : otherwise` on the i32 at the top of the stack, producing one value of `type`. */
  select(type: ValType, then: () => void, otherwise: () => void): this {
    this.op(0x04, type);
    then();
    this.op(0x05);
    otherwise();
    return this.op(0x0b);
  }

  /** if (cond) body() on the i32 at the top of the stack. */
  ifThen(body: () => void): this {
    this.op(0x04, 0x40);
    body();
    return this.op(0x0b);
  }

  /** for (; local <u end; local += step) body() — unsigned, since byte offsets may pass 2^31. */
  forRange(local: number, end: number, step: number, body: () => void): this {
    this.op(0x02, 0x40, 0x03, 0x40); // block, loop
    this.get(local).get(end).op(0x4f).op(0x0d, 1); // i32.ge_u, br_if out of the block
    body();
    this.get(local).i32(step).add().set(local);
    return this.op(0x0c, 0, 0x0b, 0x0b); // br to the loop, end loop, end block
  }
}

export interface FuncSpec {
  name: string;
  params: ValType[];
  /** Locals after the parameters, in order. */
  locals: ValType[];
  code: Code;
}

function localDecls(locals: ValType[]): number[] {
  const groups: number[][] = [];
  for (let i = 0; i < locals.length; ) {
    let j = i;
    while (j < locals.length && locals[j] === locals[i]) j++;
    groups.push([...uleb(j - i), locals[i]]);
    i = j;
  }
  return vec(groups);
}

/**
 * A module that imports one shared memory as env.memory (so every thread's instance works on the same bytes)
 * and exports `funcs`, each returning nothing.
 */
export function moduleWithSharedMemory(funcs: FuncSpec[], maxPages: number): Uint8Array {
  const types = funcs.map((f) => [0x60, ...vec(f.params.map((t) => [t])), 0]);
  const memoryImport = [...name('env'), ...name('memory'), 0x02, 0x03, ...uleb(1), ...uleb(maxPages)];
  const exports = funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]);
  const bodies = funcs.map((f) => {
    const body = [...localDecls(f.locals), ...f.code.bytes, 0x0b];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(2, vec([memoryImport])),
    ...section(3, vec(funcs.map((_, i) => uleb(i)))),
    ...section(7, vec(exports)),
    ...section(10, vec(bodies)),
  ]);
}
