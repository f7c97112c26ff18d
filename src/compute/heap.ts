/**
 * The shared heap: one shared WebAssembly.Memory per process, outside tfjs's own wasm heap (DESIGN.md §4).
 * It holds the registered sparse matrices and a kernel call's scratch rows; every thread of the compute pool
 * instantiates the row kernels over this same memory, so work is handed over as byte offsets, never copied.
 * Offsets are 64-byte aligned and 0 is never handed out (it means "absent", e.g. a binary matrix's values).
 */

import { type WasmMemory, wasm } from './kernels/wasm-api.js';

const PAGE_BYTES = 65536;
const ALIGN = 64;
/** 4 GiB, the most a 32-bit wasm memory can address. */
export const MAX_PAGES = 65536;

interface Block {
  ptr: number;
  size: number;
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** A first-fit allocator over a growable shared memory, with neighbouring free blocks merged. */
export class SharedHeap {
  readonly memory: WasmMemory;
  private readonly used = new Map<number, number>();
  /** Free blocks sorted by offset; the last one may run to the end of the memory. */
  private readonly free: Block[] = [];

  constructor(initialPages = 16) {
    this.memory = new wasm.Memory({ initial: initialPages, maximum: MAX_PAGES, shared: true });
    this.free.push({ ptr: ALIGN, size: initialPages * PAGE_BYTES - ALIGN });
  }

  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  /** Bytes currently handed out. */
  get allocatedBytes(): number {
    let total = 0;
    for (const size of this.used.values()) total += size;
    return total;
  }

  alloc(bytes: number): number {
    const size = roundUp(Math.max(bytes, 1), ALIGN);
    let i = this.free.findIndex((b) => b.size >= size);
    if (i < 0) i = this.grow(size);
    const block = this.free[i];
    const ptr = block.ptr;
    if (block.size === size) this.free.splice(i, 1);
    else this.free[i] = { ptr: ptr + size, size: block.size - size };
    this.used.set(ptr, size);
    return ptr;
  }

  release(ptr: number): void {
    const size = this.used.get(ptr);
    if (size === undefined) throw new RangeError(`shared heap: offset ${ptr} is not allocated`);
    this.used.delete(ptr);
    let i = this.free.findIndex((b) => b.ptr > ptr);
    if (i < 0) i = this.free.length;
    this.free.splice(i, 0, { ptr, size });
    this.mergeAround(i);
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }

  /** Copies `src` into a new block and returns its offset. */
  put(src: Int32Array | Float32Array): number {
    const ptr = this.alloc(src.byteLength);
    new Uint8Array(this.memory.buffer, ptr, src.byteLength).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
    return ptr;
  }

  private mergeAround(i: number): void {
    const next = this.free[i + 1];
    const cur = this.free[i];
    if (next && cur.ptr + cur.size === next.ptr) {
      cur.size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev.ptr + prev.size === cur.ptr) {
      prev.size += cur.size;
      this.free.splice(i, 1);
    }
  }

  /** Grows the memory so that a block of `size` fits at its end; returns that free block's index. */
  private grow(size: number): number {
    const end = this.byteLength;
    const last = this.free[this.free.length - 1];
    const tail = last && last.ptr + last.size === end ? last.size : 0;
    const pages = Math.ceil((size - tail) / PAGE_BYTES);
    if (end / PAGE_BYTES + pages > MAX_PAGES) {
      throw new RangeError(`shared heap: ${size} more bytes would pass the 4 GiB limit of a wasm memory`);
    }
    this.memory.grow(pages);
    if (tail > 0) last.size += pages * PAGE_BYTES;
    else this.free.push({ ptr: end, size: pages * PAGE_BYTES });
    return this.free.length - 1;
  }
}

/** A reusable block that only ever grows: a kernel's scratch rows. */
export class Scratch {
  private ptr = 0;
  private bytes = 0;

  constructor(private readonly heap: SharedHeap) {}

  /** An offset with room for `bytes`; the previous contents are not kept. */
  ensure(bytes: number): number {
    if (bytes <= this.bytes && this.ptr !== 0) return this.ptr;
    if (this.ptr !== 0) this.heap.release(this.ptr);
    this.ptr = this.heap.alloc(bytes);
    this.bytes = roundUp(Math.max(bytes, 1), ALIGN);
    return this.ptr;
  }
}

let processHeap: SharedHeap | undefined;

/** The process's shared heap, created on first use. */
export function sharedHeap(): SharedHeap {
  processHeap ??= new SharedHeap();
  return processHeap;
}
