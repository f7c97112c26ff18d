/**
 * References for CamrecEdgeMlp and its gradient (CaMRec's edge-mask MLP, edge-mlp.ts), from the definition in
 * float64 accumulation: ω_e = b_o + Σ_j w_o[j]·ReLU(a[u_e, j] + b[i_e, j] + b_1[j]) for every edge e.
 */

/** An edge list: edge e joins user users[e] and item items[e]. */
export interface EdgeList {
  readonly users: Int32Array;
  readonly items: Int32Array;
}

/** ω_e = b_o + Σ_j w_o[j] · ReLU(a[u_e, j] + b[i_e, j] + b_1[j]), in float64 accumulation. */
export function edgeMlpForward(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  bias: ArrayLike<number>,
  out: ArrayLike<number>,
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

/** The gradients of Σ_e g_e ω_e with respect to a, b, b_1, w_o and b_o, in one pass over the edges, float64 sums. */
export function edgeMlpBackward(
  g: Float32Array,
  a: Float32Array,
  b: Float32Array,
  bias: Float32Array,
  out: Float32Array,
  edges: EdgeList,
): { a: Float32Array; b: Float32Array; bias: Float32Array; out: Float32Array; outBias: number } {
  const h = bias.length;
  const ga = new Float64Array(a.length);
  const gb = new Float64Array(b.length);
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
  return { a: Float32Array.from(ga), b: Float32Array.from(gb), bias: Float32Array.from(gBias), out: Float32Array.from(gOut), outBias: gOutBias };
}
