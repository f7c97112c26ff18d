import * as tf from '@tensorflow/tfjs';
import { fastBatchMatMulConfig } from './batch-matmul.js';
import { concreteGateGradient, concreteGateKernels } from './concrete-gate.js';
import { splitLinearGradient, splitLinearKernels } from './split-linear.js';
import { denoiseGradient, denoiseKernels } from './denoise.js';
import { edgeMlpGradient, edgeMlpKernels } from './edge-mlp.js';
import { gatedSddmmGradient, gatedSpmmGradient, gatedSpmmKernels } from './gated-spmm.js';
import { gatherKernels, registerGatherGradient } from './gather.js';
import { infoNceGradient, infoNceKernels } from './infonce.js';
import { gatedLayerPropagationGradient, layerPropagationGradient, layerPropagationKernels } from './layer-propagation.js';
import { segmentSumKernels } from './segment-sum.js';
import { PROPAGATE_MEAN, propagateKernels, propagateMeanGradient } from './propagate.js';
import { SPMM, spmmGradient, spmmKernels } from './spmm.js';
import { sddmmGradient, weightedSpmmGradient, weightedSpmmKernels } from './weighted-spmm.js';
import { columnSumConfigs } from './column-sums.js';
import { nativeUnaryConfigs } from './native-unary.js';
import { wasmCopyKernelConfigs } from './wasm-copies.js';
import { meanGradient, sumGradient } from './reduce-gradients.js';

const OUR_KERNELS = [
  ...gatherKernels,
  ...segmentSumKernels,
  ...spmmKernels,
  ...propagateKernels,
  ...weightedSpmmKernels,
  ...gatedSpmmKernels,
  ...edgeMlpKernels,
  ...infoNceKernels,
  ...denoiseKernels,
  ...concreteGateKernels,
  ...splitLinearKernels,
  ...layerPropagationKernels,
];
const OUR_GRADIENTS = [
  weightedSpmmGradient,
  sddmmGradient,
  gatedSpmmGradient,
  gatedSddmmGradient,
  edgeMlpGradient,
  infoNceGradient,
  denoiseGradient,
  concreteGateGradient,
  splitLinearGradient,
  layerPropagationGradient,
  gatedLayerPropagationGradient,
  sumGradient,
  meanGradient,
];

/**
 * Registers our kernels for the wasm and cpu backends (replacing both backends' GatherV2, the cpu backend's
 * UnsortedSegmentSum, and the wasm backend's BatchMatMul, Tanh, Exp, Identity, Cast, SplitV, AddN, Tile, Sum and
 * Mean, which ours wrap) and the gradients of CamrecSpmm, CamrecPropagateMean, CamrecWeightedSpmm, CamrecSddmm,
 * CamrecGatedSpmm, CamrecGatedSddmm, CamrecEdgeMlp, CamrecInfoNce, CamrecDenoise, CamrecConcreteGate,
 * CamrecSplitLinear, CamrecLayerPropagation and CamrecGatedLayerPropagation, and ours of Sum and Mean (reduce-gradients.ts) and of GatherV2 along the first axis (gather.ts).
 * Idempotent: a kernel already registered as ours is left alone.
 */
export function registerKernels(): void {
  const fastBatchMatMul = fastBatchMatMulConfig();
  const wasmWrappers = [
    ...(fastBatchMatMul ? [fastBatchMatMul] : []),
    ...nativeUnaryConfigs(),
    ...wasmCopyKernelConfigs(),
    ...columnSumConfigs(),
  ];
  for (const config of [...OUR_KERNELS, ...wasmWrappers]) {
    const current = tf.getKernel(config.kernelName, config.backendName);
    if (current?.kernelFunc === config.kernelFunc) continue;
    if (current) tf.unregisterKernel(config.kernelName, config.backendName);
    tf.registerKernel(config);
  }
  if (tf.getGradient(SPMM) !== spmmGradient) tf.registerGradient(spmmGradient);
  if (tf.getGradient(PROPAGATE_MEAN) !== propagateMeanGradient) tf.registerGradient(propagateMeanGradient);
  for (const config of OUR_GRADIENTS) if (tf.getGradient(config.kernelName) !== config) tf.registerGradient(config);
  registerGatherGradient();
}
