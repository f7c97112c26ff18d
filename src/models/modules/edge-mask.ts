/**
 * Causal topology reconstruction (CaMRec §4.2, front-door adjustment, after CGI): each user–item edge gets a
 * retention logit ω_ij^(l) = MLP([e_i^(l); e_j^(l)]) per layer l, relaxed to ρ_ij = σ((log ε − log(1 − ε) + ω_ij)/τ),
 * ε ~ U(0, 1) (the binary concrete distribution, Maddison et al. 2017), and the causal subgraph keeps e_ij ⊙ ρ_ij.
 * The MLP's first layer is factored (DESIGN.md §4): W·[e_u; e_i] = (E_U W_a)[u] + (E_I W_b)[i], so the
 * per-edge work is two row gathers instead of an [edges, 2D] concatenation and product.
 */
import * as tf from '@tensorflow/tfjs';
import { matMul } from './ops.js';

export interface EdgeMaskWeights {
  readonly user: tf.Tensor2D; // W_a [D, H]
  readonly item: tf.Tensor2D; // W_b [D, H]
  readonly bias: tf.Tensor2D; // [1, H]
  readonly out: tf.Tensor2D; // [H, 1]
  readonly outBias: tf.Tensor2D; // [1, 1]
}

/** The edges' endpoints, in the order of the training matrix's entries (user-major, items sorted). */
export interface EdgeList {
  readonly users: tf.Tensor1D;
  readonly items: tf.Tensor1D;
}

/** ω_e = w_o·ReLU(E_U W_a [u_e] + E_I W_b [i_e] + b) + b_o for every edge e, [E]. */
export function edgeMaskLogits(w: EdgeMaskWeights, users: tf.Tensor2D, items: tf.Tensor2D, edges: EdgeList): tf.Tensor1D {
  const a = tf.gather(matMul(users, w.user), edges.users);
  const b = tf.gather(matMul(items, w.item), edges.items);
  const hidden = tf.relu(tf.add(tf.add(a, b), w.bias));
  return tf.reshape(tf.add(matMul(hidden as tf.Tensor2D, w.out), w.outBias), [-1]) as tf.Tensor1D;
}

/**
 * ρ = σ((g + ω)/τ), g = log ε − log(1 − ε) the logistic noise; `uniforms` null gives the deterministic mask at
 * the noise's median (g = 0), used at inference and by `camrec explain`.
 */
export function concreteMask(logits: tf.Tensor1D, uniforms: Float32Array | null, temperature: number): tf.Tensor1D {
  if (!uniforms) return tf.sigmoid(tf.div(logits, temperature)) as tf.Tensor1D;
  const g = new Float32Array(uniforms.length);
  for (let e = 0; e < g.length; e++) g[e] = Math.log(uniforms[e]) - Math.log(1 - uniforms[e]);
  return tf.sigmoid(tf.div(tf.add(logits, tf.tensor1d(g)), temperature)) as tf.Tensor1D;
}
