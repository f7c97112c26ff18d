/**
 * The process's malloc settings (docs/paramserver.md "Allocator"). With glibc's defaults a buffer above the
 * dynamic mmap threshold — every multi-megabyte gRPC message, pulled table or gradient on baby's shapes — is a
 * fresh mmap that the kernel zero-fills page by page and unmaps when it is freed, and freed memory at the top of
 * the heap goes back to the system past a small trim threshold: a parameter-server shard then took about
 * 1 000–2 000 page faults per pushed task. Raising both thresholds keeps those buffers in the heap and reuses them. Every `camrec` command sets them at start
 * through the native addon (mallopt; the deploy image has it); without the addon the same settings can be given at
 * exec through GLIBC_TUNABLES (ALLOCATOR_TUNABLES). A GLIBC_TUNABLES that already names a malloc setting is the
 * user's choice and is left alone (`GLIBC_TUNABLES=glibc.malloc.perturb=0` keeps glibc's defaults).
 */
import type { NativeKernels } from './native.js';

/** Buffers up to this size come from the heap, not from mmap (the top of glibc's own dynamic range on 64-bit). */
export const MMAP_THRESHOLD = 32 * 1024 * 1024;
/** Free memory at the top of the heap is given back to the system only above this. */
export const TRIM_THRESHOLD = 256 * 1024 * 1024;
/** The same settings as a GLIBC_TUNABLES value, for processes started without the addon. */
export const ALLOCATOR_TUNABLES = `glibc.malloc.mmap_threshold=${MMAP_THRESHOLD}:glibc.malloc.trim_threshold=${TRIM_THRESHOLD}`;

/** What `tuneAllocator` did: set by the addon, left to GLIBC_TUNABLES, or nothing (no addon, or not glibc). */
export type AllocatorTuning = 'mallopt' | 'environment' | 'none';

let tuned: AllocatorTuning = 'none';

/** Sets the thresholds through the addon unless GLIBC_TUNABLES already sets malloc; remembers what it did. */
export function tuneAllocator(kernels: NativeKernels | null, env: NodeJS.ProcessEnv = process.env): AllocatorTuning {
  if ((env.GLIBC_TUNABLES ?? '').includes('glibc.malloc.')) tuned = 'environment';
  else if (!kernels) tuned = 'none';
  else tuned = kernels.tuneAllocator(MMAP_THRESHOLD, TRIM_THRESHOLD) ? 'mallopt' : 'none';
  return tuned;
}

/** What this process's last `tuneAllocator` did (a run's provenance records it). */
export function allocatorTuning(): AllocatorTuning {
  return tuned;
}
