/**
 * The binary concrete gate of CaMRec's edge mask (§4.2; Maddison et al. 2017) as one op: for every edge e,
 *   ρ_e = σ((ω_e + g_e)/τ),   g_e = log u_e − log(1 − u_e),
 * the logistic noise g from the step's uniforms (none: g = 0, the gate at the noise's median), and
 * ∂L/∂ω_e = ∂L/∂ρ_e · ρ_e(1 − ρ_e)/τ. CamrecConcreteGate (inputs logits [E], uniforms [E], empty for none; attribute
 * temperature) and CamrecConcreteGateGrad (dy, rho) run on the native addon. Composed, the same was a TypeScript loop
 * of two logarithms per edge, a tensor of the noise, an add, a division and a sigmoid, and four ops backward, per
 * layer. `fusedConcreteGate` answers null without the addon; the model composes stock ops (edge-mask.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import type { NativeKernels } from '../native.js';
import { computePool, nativeKernels } from '../pool.js';
import { type KernelIo, expectFloat, kernelConfigs } from './io.js';

export const CONCRETE_GATE = 'CamrecConcreteGate';
export const CONCRETE_GATE_GRAD = 'CamrecConcreteGateGrad';

function requireNative(kernelName: string): NativeKernels {
  const native = nativeKernels();
  if (!native) throw new Error(`${kernelName}: needs the native addon (the model composes stock ops without it)`);
  return native;
}

function concreteGateKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const { logits, uniforms } = inputs as { logits: TensorInfo; uniforms: TensorInfo };
  expectFloat(CONCRETE_GATE, 'logits', logits, 1);
  const native = requireNative(CONCRETE_GATE);
  return io.output(logits.shape, 'float32', (rho) => {
    const u = uniforms.shape[0] === 0 ? null : (io.read(uniforms) as Float32Array);
    native.concreteGate(io.read(logits) as Float32Array, u, attrs.temperature as number, rho as Float32Array, computePool().threads);
  });
}

function concreteGateGradKernel(io: KernelIo, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const { dy, rho } = inputs as { dy: TensorInfo; rho: TensorInfo };
  const native = requireNative(CONCRETE_GATE_GRAD);
  return io.output(dy.shape, 'float32', (out) => {
    native.concreteGateGrad(io.read(dy) as Float32Array, io.read(rho) as Float32Array, attrs.temperature as number, out as Float32Array, computePool().threads);
  });
}

export const concreteGateKernels = [...kernelConfigs(CONCRETE_GATE, concreteGateKernel), ...kernelConfigs(CONCRETE_GATE_GRAD, concreteGateGradKernel)];

export const concreteGateGradient: GradConfig = {
  kernelName: CONCRETE_GATE,
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [rho] = saved;
    return { logits: () => tf.engine().runKernel(CONCRETE_GATE_GRAD, { dy: dy as tf.Tensor, rho }, attrs) as tf.Tensor };
  },
};

/** ρ of the header for the logits ω [E] and the edges' uniforms (null: none); null where the op cannot run. */
export function fusedConcreteGate(logits: tf.Tensor1D, uniforms: Float32Array | null, temperature: number): tf.Tensor1D | null {
  if (uniforms && uniforms.length !== logits.size) throw new RangeError(`${CONCRETE_GATE}: ${uniforms.length} uniforms for ${logits.size} logits`);
  if (!(temperature > 0)) throw new RangeError(`${CONCRETE_GATE}: temperature must be positive, got ${temperature}`);
  if (logits.size === 0 || !nativeKernels() || tf.getKernel(CONCRETE_GATE, tf.getBackend()) === undefined) return null;
  return tf.tidy(() => {
    const u = uniforms ? tf.tensor1d(uniforms) : tf.zeros([0]);
    return tf.engine().runKernel(CONCRETE_GATE, { logits, uniforms: u }, { temperature }) as tf.Tensor1D;
  });
}
