/**
 * Causal topology reconstruction (CaMRec §4.2, front-door adjustment, after CGI): each user–item edge gets a
 * retention logit ω_ij^(l) = MLP([e_i^(l); e_j^(l)]) per layer l, relaxed to ρ_ij = σ((log ε − log(1 − ε) + ω_ij)/τ),
 * ε ~ U(0, 1) (the binary concrete distribution, Maddison et al. 2017), and the causal subgraph keeps e_ij ⊙ ρ_ij.
 * The MLP's first layer is factored (DESIGN.md §4): W·[e_u; e_i] = (E_U W_a)[u] + (E_I W_b)[i], and the rest
 * of the per-edge work — bias, ReLU, output layer, and their gradients — runs as one pass over the edges
 * (`edgeMlp`), so no [edges, H] tensor is ever formed: at 10⁵–10⁶ edges those tensors, their gathers and
 * their segment-sum gradients cost more than everything else in a step.
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
  readonly users: Int32Array;
  readonly items: Int32Array;
}

/** ω_e = b_o + Σ_j w_o[j] · ReLU(a[u_e, j] + b[i_e, j] + b_1[j]), in float64 accumulation. */
export function edgeMlpForward(
  a: Float32Array,
  b: Float32Array,
  bias: Float32Array,
  out: Float32Array,
  outBias: number,
  edges: EdgeList,
): Float32Array {
  const h = bias.length;
  const omega = new Float32Array(edges.users.length);
  for (let e = 0; e < omega.length; e++) {
    const ua = edges.users[e] * h;
    const ib = edges.items[e] * h;
    let s = outBias;
    for (let j = 0; j < h; j++) {
      const v = a[ua + j] + b[ib + j] + bias[j];
      if (v > 0) s += v * out[j];
    }
    omega[e] = s;
  }
  return omega;
}

/** The gradients of Σ_e g_e ω_e with respect to a, b, b_1, w_o and b_o, in one pass over the edges. */
export function edgeMlpBackward(
  g: Float32Array,
  a: Float32Array,
  b: Float32Array,
  bias: Float32Array,
  out: Float32Array,
  edges: EdgeList,
): { a: Float32Array; b: Float32Array; bias: Float32Array; out: Float32Array; outBias: number } {
  const h = bias.length;
  const ga = new Float32Array(a.length);
  const gb = new Float32Array(b.length);
  const gBias = new Float64Array(h);
  const gOut = new Float64Array(h);
  let gOutBias = 0;
  for (let e = 0; e < g.length; e++) {
    const ge = g[e];
    if (ge === 0) continue;
    const ua = edges.users[e] * h;
    const ib = edges.items[e] * h;
    gOutBias += ge;
    for (let j = 0; j < h; j++) {
      const v = a[ua + j] + b[ib + j] + bias[j];
      if (v <= 0) continue;
      const t = ge * out[j];
      ga[ua + j] += t;
      gb[ib + j] += t;
      gBias[j] += t;
      gOut[j] += ge * v;
    }
  }
  return { a: ga, b: gb, bias: Float32Array.from(gBias), out: Float32Array.from(gOut), outBias: gOutBias };
}

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/** ω for every edge from the factored first layer's outputs a = E_U W_a [U, H] and b = E_I W_b [I, H]. */
export function edgeMlp(
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  bias: tf.Tensor2D,
  out: tf.Tensor2D,
  outBias: tf.Tensor2D,
  edges: EdgeList,
): tf.Tensor1D {
  const op = tf.customGrad(((ta: tf.Tensor, tb: tf.Tensor, tBias: tf.Tensor, tOut: tf.Tensor, tOutBias: tf.Tensor) => {
    const av = ta.dataSync() as Float32Array;
    const bv = tb.dataSync() as Float32Array;
    const biasV = tBias.dataSync() as Float32Array;
    const outV = tOut.dataSync() as Float32Array;
    const omega = edgeMlpForward(av, bv, biasV, outV, tOutBias.dataSync()[0], edges);
    return {
      value: tf.tensor1d(omega),
      gradFunc: (dy: tf.Tensor) => {
        const gr = edgeMlpBackward(dy.dataSync() as Float32Array, av, bv, biasV, outV, edges);
        return [
          tf.tensor2d(gr.a, ta.shape as [number, number]),
          tf.tensor2d(gr.b, tb.shape as [number, number]),
          tf.tensor2d(gr.bias, tBias.shape as [number, number]),
          tf.tensor2d(gr.out, tOut.shape as [number, number]),
          tf.tensor2d([gr.outBias], [1, 1]),
        ];
      },
    };
  }) as unknown as CustomGradFn) as (...xs: tf.Tensor[]) => tf.Tensor;
  return op(a, b, bias, out, outBias) as tf.Tensor1D;
}

/** ω_e = w_o·ReLU(E_U W_a [u_e] + E_I W_b [i_e] + b) + b_o for every edge e, [E]. */
export function edgeMaskLogits(w: EdgeMaskWeights, users: tf.Tensor2D, items: tf.Tensor2D, edges: EdgeList): tf.Tensor1D {
  return edgeMlp(matMul(users, w.user), matMul(items, w.item), w.bias, w.out, w.outBias, edges);
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
