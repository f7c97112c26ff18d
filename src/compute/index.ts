/**
 * The compute layer (DESIGN.md §4): tfjs and its backend, our registered kernels (linear-time segment sums,
 * sparse × dense products with their gradient), and the worker pool and shared heap they run on.
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
export { BACKEND_CHOICES, type BackendChoice, type BackendInfo, initBackend } from './backend.js';
export { registerKernels } from './kernels/register.js';
export { readFloatsInto } from './kernels/io.js';
export { kernelCounters } from './kernels/counters.js';
export { segmentSum } from './kernels/segment-sum.js';
export { segmentSumReference } from './kernels/segment-sum-ref.js';
export { type SparseHandle, registerSparse, releaseSparse, spmm } from './kernels/spmm.js';
export { spmmReference } from './kernels/spmm-ref.js';
export { propagateMean } from './kernels/propagate.js';
export { gatedPropagateLayers, propagateLayers } from './kernels/layer-propagation.js';
export {
  type SparseStructure,
  registerSparseStructure,
  releaseSparseStructure,
  sddmm,
  weightedSpmm,
} from './kernels/weighted-spmm.js';
export { sddmmReference, weightedSpmmReference } from './kernels/weighted-spmm-ref.js';
export {
  type GatedStructure,
  gatedSddmm,
  gatedSpmm,
  registerGatedStructure,
  releaseGatedStructure,
} from './kernels/gated-spmm.js';
export { gatedSddmmReference, gatedSpmmReference } from './kernels/gated-spmm-ref.js';
export { edgeMlp, releaseEdgeList } from './kernels/edge-mlp.js';
export { blockLogSumExp } from './kernels/block-logsumexp.js';
export { fusedInfoNce } from './kernels/infonce.js';
export { fusedConcreteGate } from './kernels/concrete-gate.js';
export { fusedSplitLinear } from './kernels/split-linear.js';
export { splitLinearReference } from './kernels/split-linear-ref.js';
export { concreteGateReference } from './kernels/concrete-gate-ref.js';
export { type DenoiseNoising, type DenoiseWeights, fusedDenoise } from './kernels/denoise.js';
export { type DenoiseProblem, denoiseBackwardReference, denoiseForwardReference } from './kernels/denoise-ref.js';
export { infoNceReference } from './kernels/infonce-ref.js';
export { type EdgeList, edgeMlpBackward, edgeMlpForward } from './kernels/edge-mlp-ref.js';
export { type AdamHyper, type HeapTable, adamDense, allocHeapTable, freeHeapTable } from './kernels/adam.js';
export { ComputePool, type PoolOptions, computePool, configureCompute, nativeKernels, shutdownCompute } from './pool.js';
export { type NativeKernels, type NoiseArgs, loadNative, probeNative } from './native.js';
export { HEAP_GROWING_ENV, HEAP_GROWING_PERCENT, heapGrowingPercent, heapGrowth, tuneHeapGrowth } from './heap-growth.js';
export { ALLOCATOR_TUNABLES, type AllocatorTuning, allocatorTuning, MMAP_THRESHOLD, TRIM_THRESHOLD, tuneAllocator } from './allocator.js';
export { balancedRowBounds } from './jobs.js';
export { SharedHeap, sharedHeap } from './heap.js';
