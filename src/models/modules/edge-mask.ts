/**
 * Causal topology reconstruction (CaMRec §4.2, front-door adjustment, after CGI): each user–item edge gets a
 * retention logit ω_ij^(l) = MLP([e_i^(l); e_j^(l)]) per layer l, relaxed to ρ_ij = σ((log ε − log(1 − ε) + ω_ij)/τ),
 * ε ~ U(0, 1) (the binary concrete distribution, Maddison et al. 2017), and the causal subgraph keeps e_ij ⊙ ρ_ij.
 * The MLP's first layer is factored (DESIGN.md §4): W·[e_u; e_i] = (E_U W_a)[u] + (E_I W_b)[i], and the rest
 * of the per-edge work — bias, ReLU, output layer, and their gradients — runs as one registered op over the edges
 * (`edgeMlp`, wasm SIMD on the compute pool), so no [edges, H] tensor is ever formed: at 10⁵–10⁶ edges those
 * tensors, their gathers and their segment-sum gradients cost more than everything else in a step.
 */
import * as tf from '@tensorflow/tfjs';
import { type EdgeList, edgeMlp, edgeMlpBackward, edgeMlpForward, fusedConcreteGate, fusedSplitLinear } from '../../compute/index.js';
import { matMul } from './ops.js';

export interface EdgeMaskWeights {
  readonly user: tf.Tensor2D; // W_a [D, H]
  readonly item: tf.Tensor2D; // W_b [D, H]
  readonly bias: tf.Tensor2D; // [1, H]
  readonly out: tf.Tensor2D; // [H, 1]
  readonly outBias: tf.Tensor2D; // [1, 1]
}

/** The edges' endpoints, in the order of the training matrix's entries (user-major, items sorted). */
export type { EdgeList };
/** The per-edge MLP (one registered kernel pair, src/compute/kernels/edge-mlp.ts) and its plain references. */
export { edgeMlp, edgeMlpBackward, edgeMlpForward };

/**
 * ω_e = w_o·ReLU(E_U W_a [u_e] + E_I W_b [i_e] + b) + b_o for every edge e, [E], from a layer [E_U; E_I] whose first
 * `nUsers` rows are the users. The factored first layer is one op with the native addon
 * (src/compute/kernels/split-linear.ts), else a split and two products.
 */
export function edgeMaskLogits(w: EdgeMaskWeights, layer: tf.Tensor2D, nUsers: number, edges: EdgeList): tf.Tensor1D {
  const [a, b] = fusedSplitLinear(layer, w.user, w.item, nUsers) ?? splitProducts(w, layer, nUsers);
  return edgeMlp(a, b, w.bias, w.out, w.outBias, edges);
}

function splitProducts(w: EdgeMaskWeights, layer: tf.Tensor2D, nUsers: number): [tf.Tensor2D, tf.Tensor2D] {
  const [users, items] = tf.split(layer, [nUsers, layer.shape[0] - nUsers], 0) as [tf.Tensor2D, tf.Tensor2D];
  return [matMul(users, w.user), matMul(items, w.item)];
}

/**
 * ρ = σ((g + ω)/τ), g = log ε − log(1 − ε) the logistic noise; `uniforms` null gives the deterministic mask at
 * the noise's median (g = 0), used at inference and by `camrec explain`. One op with the native addon
 * (src/compute/kernels/concrete-gate.ts), else tfjs ops.
 */
export function concreteMask(logits: tf.Tensor1D, uniforms: Float32Array | null, temperature: number): tf.Tensor1D {
  const fused = fusedConcreteGate(logits, uniforms, temperature);
  if (fused) return fused;
  if (!uniforms) return tf.sigmoid(tf.div(logits, temperature)) as tf.Tensor1D;
  const g = new Float32Array(uniforms.length);
  for (let e = 0; e < g.length; e++) g[e] = Math.log(uniforms[e]) - Math.log(1 - uniforms[e]);
  return tf.sigmoid(tf.div(tf.add(logits, tf.tensor1d(g)), temperature)) as tf.Tensor1D;
}
