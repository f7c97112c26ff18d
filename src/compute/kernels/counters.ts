/** How often each of our kernels ran in this process, so tests can check that ours are the ones doing the work. */
const counts = new Map<string, number>();

export function countKernel(kernelName: string): void {
  counts.set(kernelName, (counts.get(kernelName) ?? 0) + 1);
}

/** A snapshot: kernel name → calls so far (forward and gradient calls alike). */
export function kernelCounters(): Record<string, number> {
  return Object.fromEntries(counts);
}
