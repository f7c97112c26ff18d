/**
 * CaMRec (Yang, Gu & Liu, "Causal Inspired Multi Modal Recommendation"; ../shared/papers/camrec.txt) on a
 * LightGCN backbone, built from the modules in ./modules. Per modality m: projected features F^m = X^m W^m + b^m,
 * the item semantic graph h^m = S^m F^m (§4.1, ISG); the dual-channel cross-modal diffusion estimates the
 * confounder H_c^m = f_θ(h_t^m, t, F^{m'}) (§4.1); the environment codebook stratifies it (§4.2, back-door),
 * and the item's modality input mixes the stratum back in, x^m = (1 − w) h^m + w · B^m q^m. The backbone propagates
 * [E_U; E_I + Σ_m x^m] over the normalised user–item graph (LightGCN eq. 7–8) and adds FREEDOM's S_mm E_I to the
 * items. The front-door branch masks every edge with a learned concrete gate per layer and propagates again
 * (X*); BPR on X and X* and InfoNCE on (X, X*) train it (§4.2). docs/camrec.md maps each equation to this code.
 *
 * Switches: `backdoor: false` drops the diffusion and the codebook (x^m = h^m); `diffusion: false` keeps the
 * codebook but stratifies h^m itself (the paper's "w/o DCD"); `frontdoor: false` drops the mask, X* and InfoNCE.
 * Scores use X, with the confounder from the fixed step t* and the soft assignment: deterministic.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import {
  type GatedStructure,
  gatedPropagateLayers,
  gatedSddmm,
  gatedSpmm,
  propagateLayers,
  registerGatedStructure,
  registerSparse,
  releaseGatedStructure,
  releaseSparse,
  spmm,
  type SparseHandle,
} from '../compute/index.js';
import type { Dataset } from '../data/types.js';
import { ConfigError } from '../errors/index.js';
import { type Csr, normalizedBipartiteAdjacency } from '../graph/index.js';
import type { TableSpec } from '../train/tables.js';
import { bprLoss, embLoss, uniqueSorted } from './common.js';
import { propagate } from './lightgcn.js';
import { nearestCodes, softAssignment, softQuantize, straightThrough, vqLoss } from './modules/codebook.js';
import { denoise, type DenoiserWeights, type DiffusionSchedule, linearSchedule } from './modules/diffusion.js';
import { concreteMask, type EdgeList, edgeMaskLogits, type EdgeMaskWeights } from './modules/edge-mask.js';
import { infoNce } from './modules/infonce.js';
import { intPerRow, normalRows, uniformRows } from './modules/noise.js';
import { l2Normalize, linear, matMul } from './modules/ops.js';
import { knnItemGraph, mixGraphs, modalityKnn, modalityWeights, unitRows } from './modules/semantic-graph.js';
import type { Batch, LossOutput, Model, Params, PrepareContext, Prepared, Representations } from './types.js';

export const camrecHyper = z
  .object({
    dim: z.number().int().positive().default(64),
    layers: z.number().int().min(1).default(2),
    reg: z.number().nonnegative().default(1e-4),
    /** FREEDOM's weight of the image kNN graph in S_mm; the other modalities share the rest. */
    imageWeight: z.number().min(0).max(1).default(0.1),
    /** Neighbours per item when a modality has raw features but no kNN file. */
    knnK: z.number().int().positive().default(10),
    /**
     * Scale of the modality channels Σ_m x^m in the item's input (0: ID embeddings only). 0.03 is what the
     * validation-selected grid chose on the bundled TikTok data and on sports (docs/camrec.md choice 14).
     */
    modalityWeight: z.number().nonnegative().default(0.03),
    /** Each modality channel enters through a learned scalar gate α_m that starts at 0 (ReZero-style). */
    modalityGate: z.boolean().default(true),
    /** FREEDOM's frozen item–item term S_mm E_I on the final items. */
    itemGraph: z.boolean().default(true),
    /**
     * Item ID embeddings E_I in the item's input (choice 10). false: items are their modality channels alone, as in
     * the authors' code (`vq_ver1_*`, which has no item IDs); then `itemGraph` must be false (S_mm E_I needs E_I)
     * and the reg term covers the batch's users only.
     */
    itemIds: z.boolean().default(true),
    backdoor: z.boolean().default(true),
    frontdoor: z.boolean().default(true),
    diffusion: z.boolean().default(true),
    diffusionSteps: z.number().int().positive().default(20),
    betaStart: z.number().positive().default(1e-4),
    betaEnd: z.number().positive().max(0.999).default(0.02),
    /** t* of the deterministic one-shot confounder estimate used for scoring (0-based, < diffusionSteps). */
    inferStep: z.number().int().nonnegative().default(10),
    denoiserHidden: z.number().int().positive().default(64),
    diffWeight: z.number().nonnegative().default(0.5),
    codebookSize: z.number().int().positive().default(50),
    envDim: z.number().int().positive().default(64),
    commitment: z.number().nonnegative().default(0.2),
    vqWeight: z.number().nonnegative().default(0.5),
    /** w of x^m = (1 − w) h^m + w B^m q^m: how much of the stratified confounder enters the item. */
    envWeight: z.number().min(0).max(1).default(0.01),
    /**
     * z^m = H_c^m P^m, a learned projection into the codebook's space, as the authors' code (env_proj); false: the
     * codebook quantises H_c^m itself, as the paper writes it (§4.2: the code nearest to H_c(i)); envDim must then
     * equal dim. P^m's only strong gradient is the commitment term's, which it lowers by collapsing z^m (docs/camrec.md 23).
     */
    envProjection: z.boolean().default(true),
    /** Centred, unit-norm z and unit-norm codes (cosine VQ); false: raw Euclidean distances, as the authors. */
    codebookNorm: z.boolean().default(true),
    /** T of the inference-time soft assignment softmax(−‖z − c‖²/T); unit-norm distances lie in [0, 4]. */
    softTemperature: z.number().positive().default(0.1),
    /** Training assignment: 'hard' (nearest code, straight-through) or 'soft' (as at inference; for gradient checks). */
    assignment: z.enum(['hard', 'soft']).default('hard'),
    maskHidden: z.number().int().positive().default(64),
    maskTemperature: z.number().positive().default(0.2),
    sslWeight: z.number().nonnegative().default(0.04),
    sslTemperature: z.number().positive().default(0.2),
    sslBlock: z.number().int().positive().default(256),
    /** Epochs over which the InfoNCE weight ramps linearly from 0 to sslWeight (0: full weight from the start). */
    sslWarmup: z.number().int().nonnegative().default(10),
    /** λ of λ·mean(ρ): pressure towards dropping edges (not in the paper, whose objective is maximised by ρ = 1). */
    maskSparsity: z.number().nonnegative().default(0),
    /**
     * The sign of the InfoNCE between X and X*. 'infomax' (the paper, the authors' code): minimised, the views agree.
     * 'ib': maximised, as in CGI, which the paper cites for this module — an information bottleneck that pushes
     * X* away from X, so the mask has to drop edges while BPR on X* keeps the ones that matter (docs/camrec.md 19).
     */
    maskObjective: z.enum(['infomax', 'ib']).default('infomax'),
    /**
     * Adds a_l·⟨e_u^(l), e_i^(l)⟩ to the edge logit ω^(l), a learned scalar a_l per layer starting at 0 (not in the
     * paper): the paper's MLP on [e_u; e_i] can only approximate this bilinear agreement, by which a trained
     * CaMRec ranks the simulator's accidental clicks better than its mask does (docs/camrec.md 20).
     */
    maskAgreement: z.boolean().default(false),
    /**
     * Leaves the batch's own positive edges out of X* for that step (their gates times 0), so the masked BPR cannot
     * reward an edge for predicting itself (not in the paper; target-edge removal, as in link prediction): an edge
     * is kept only as far as it helps predict the user's other clicks (docs/camrec.md 21).
     */
    maskHoldout: z.boolean().default(false),
    /**
     * What maskSparsity counts: 'edge', every gate alike; 'message', each gate times its edge's Â entry
     * 1/√(d_u d_i), normalised to mean 1, so that a gate's price matches the size of the message it lets through.
     */
    maskSparsityWeight: z.enum(['edge', 'message']).default('edge'),
    /**
     * What the edge mask's MLP reads on the item side: 'layer', the item's layer-l embedding e_i^(l), as the user
     * side (CGI's form, and the authors'); 'modal', the item's modal features Σ_m x^m (after the back door,
     * before the modality gate and weight), the same at every layer — §4.2 calls e_i^(l) "item modal features" and
     * e_j^(l) "user preferences" (docs/camrec.md 24). The user side is e_u^(l) either way.
     */
    maskInput: z.enum(['layer', 'modal']).default('layer'),
  })
  .strict()
  .refine((h) => h.inferStep < h.diffusionSteps, { message: 'inferStep must be below diffusionSteps', path: ['inferStep'] })
  .refine((h) => h.betaStart <= h.betaEnd, { message: 'betaStart must not exceed betaEnd', path: ['betaStart'] })
  .refine((h) => h.envProjection || h.envDim === h.dim, { message: 'envDim must equal dim with envProjection=false: the codebook quantises H_c itself', path: ['envDim'] })
  .refine((h) => h.itemIds || !h.itemGraph, { message: 'itemGraph needs itemIds (S_mm E_I): set itemGraph=false with itemIds=false', path: ['itemGraph'] })
  .refine((h) => h.itemIds || h.modalityWeight > 0, { message: 'modalityWeight must be positive with itemIds=false: items would have no input', path: ['modalityWeight'] });
export type CamrecHyper = z.infer<typeof camrecHyper>;

interface ModalityInput {
  readonly name: string;
  readonly dim: number;
  readonly features: tf.Tensor2D; // X^m, constant
  readonly graph: SparseHandle; // S^m
}

export interface CamrecPrepared extends Prepared {
  readonly seed: number;
  readonly nUsers: number;
  readonly nItems: number;
  readonly adjacency: SparseHandle; // Â, for the backbone
  readonly gated: GatedStructure; // Â with entry p gated by the mask of its user–item edge, for X*
  readonly edges: EdgeList; // the training edges, user-major
  readonly trainByUser: Csr; // the training matrix: edge e is its e-th entry
  readonly messageWeights: Float32Array | null; // Â's entry of each edge over their mean (maskSparsityWeight 'message')
  readonly edgePairs: GatedStructure | null; // the training matrix with unit entries, one group per edge (maskAgreement)
  readonly nEdges: number;
  readonly modalities: readonly ModalityInput[];
  readonly mixed: SparseHandle; // S_mm
  readonly schedule: DiffusionSchedule;
  readonly tables: readonly string[];
}

/** For every stored entry of Â (users first), the index of its (user, item) pair in the training matrix. */
export function entryEdges(trainByUser: Csr, adjacency: Csr): Int32Array {
  const nUsers = trainByUser.nRows;
  const out = new Int32Array(adjacency.indices.length);
  for (let r = 0; r < adjacency.nRows; r++) {
    for (let p = adjacency.indptr[r]; p < adjacency.indptr[r + 1]; p++) {
      const c = adjacency.indices[p];
      const [u, i] = r < nUsers ? [r, c - nUsers] : [c, r - nUsers];
      out[p] = edgeIndex(trainByUser, u, i);
    }
  }
  return out;
}

function edgeIndex(m: Csr, u: number, i: number): number {
  let lo = m.indptr[u];
  let hi = m.indptr[u + 1] - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (m.indices[mid] === i) return mid;
    if (m.indices[mid] < i) lo = mid + 1;
    else hi = mid - 1;
  }
  throw new RangeError(`edge (${u}, ${i}) is not in the training matrix`);
}

function prepareCamrec(data: Dataset, h: CamrecHyper, ctx: PrepareContext): CamrecPrepared {
  if (data.modalities.length === 0) {
    throw new ConfigError(`camrec needs item modalities; ${data.dir} has none (use lightgcn or bpr)`);
  }
  const adjCsr = normalizedBipartiteAdjacency(data.trainByUser);
  const adjacency = registerSparse(adjCsr, { symmetric: true });
  const graphs = data.modalities.map((m) => knnItemGraph(modalityKnn(m, data.nItems, h.knnK), data.nItems));
  const mixedCsr = mixGraphs(graphs, modalityWeights(data.modalities.map((m) => m.name), h.imageWeight));
  const byUser = data.trainByUser;
  const edgeUsers = new Int32Array(byUser.indices.length);
  for (let u = 0; u < byUser.nRows; u++) edgeUsers.fill(u, byUser.indptr[u], byUser.indptr[u + 1]);
  const edgeOf = entryEdges(byUser, adjCsr);
  const gated = registerGatedStructure(adjCsr, edgeOf, edgeUsers.length);
  const edgePairs = h.frontdoor && h.maskAgreement ? registerEdgePairs(byUser) : null;
  const kept = tf.tidy(() => ({
    // unit rows: raw feature scales differ by orders of magnitude between datasets and modalities
    features: data.modalities.map((m) => tf.keep(tf.tensor2d(unitRows(m.features, data.nItems, m.dim), [data.nItems, m.dim]))),
  }));
  const modalities = data.modalities.map((m, k) => ({
    name: m.name,
    dim: m.dim,
    features: kept.features[k],
    graph: registerSparse(graphs[k]),
  }));
  const mixed = registerSparse(mixedCsr);
  return {
    seed: ctx.seed,
    nUsers: data.nUsers,
    nItems: data.nItems,
    adjacency,
    gated,
    edges: { users: edgeUsers, items: byUser.indices },
    trainByUser: byUser,
    messageWeights: h.maskSparsityWeight === 'message' ? messageWeights(adjCsr, edgeOf, data.nUsers, edgeUsers.length) : null,
    edgePairs,
    nEdges: edgeUsers.length,
    modalities,
    mixed,
    schedule: linearSchedule(h.diffusionSteps, h.betaStart, h.betaEnd),
    tables: camrecTables(data, h).map((t) => t.name),
    release() {
      releaseSparse(adjacency);
      releaseGatedStructure(gated);
      if (edgePairs) releaseGatedStructure(edgePairs);
      releaseSparse(mixed);
      for (const m of modalities) releaseSparse(m.graph);
      tf.dispose(kept.features);
    },
  };
}

/** R with unit values, entry p its own group: gatedSddmm over it gives ⟨a_u, b_i⟩ for every edge, in edge order. */
function registerEdgePairs(byUser: Csr): GatedStructure {
  const n = byUser.indices.length;
  const groups = new Int32Array(n);
  for (let e = 0; e < n; e++) groups[e] = e;
  return registerGatedStructure({ ...byUser, values: new Float32Array(n).fill(1) }, groups, n);
}

const dense = (name: string, rows: number, dim: number, zero = false): TableSpec => ({
  name,
  rows,
  dim,
  init: zero ? { kind: 'zeros' } : { kind: 'xavierUniform' },
  trainable: true,
});

function camrecTables(data: Dataset, h: CamrecHyper): TableSpec[] {
  const d = h.dim;
  const specs: TableSpec[] = [{ name: 'user', rows: data.nUsers, dim: d, init: { kind: 'xavierUniform' }, trainable: true }];
  if (h.itemIds) specs.push({ name: 'item', rows: data.nItems, dim: d, init: { kind: 'xavierUniform' }, trainable: true });
  for (const m of data.modalities) {
    specs.push(dense(`${m.name}.proj`, m.dim, d), dense(`${m.name}.projBias`, 1, d, true));
    if (h.modalityGate) specs.push(dense(`${m.name}.gate`, 1, 1, true));
    if (!h.backdoor) continue;
    if (h.diffusion) {
      const hh = h.denoiserHidden;
      specs.push(
        dense(`${m.name}.denoise.noisy`, d, hh),
        dense(`${m.name}.denoise.condition`, d, hh),
        dense(`${m.name}.denoise.step`, h.diffusionSteps, hh),
        dense(`${m.name}.denoise.bias`, 1, hh, true),
        dense(`${m.name}.denoise.out`, hh, d),
        dense(`${m.name}.denoise.outBias`, 1, d, true),
      );
    }
    if (h.envProjection) specs.push(dense(`${m.name}.env.in`, d, h.envDim));
    specs.push(dense(`${m.name}.env.out`, h.envDim, d));
  }
  if (h.backdoor) {
    const k = h.codebookSize;
    specs.push({ name: 'codebook', rows: k, dim: h.envDim, init: { kind: 'uniform', bound: 1 / k }, trainable: true });
  }
  if (h.frontdoor) {
    for (let l = 0; l < h.layers; l++) {
      specs.push(
        dense(`mask${l}.user`, d, h.maskHidden),
        dense(`mask${l}.item`, d, h.maskHidden),
        dense(`mask${l}.bias`, 1, h.maskHidden, true),
        dense(`mask${l}.out`, h.maskHidden, 1),
        dense(`mask${l}.outBias`, 1, 1, true),
      );
      if (h.maskAgreement) specs.push(dense(`mask${l}.agree`, 1, 1, true));
    }
  }
  return specs;
}

const value = (params: Params, name: string): tf.Tensor2D => {
  const p = params[name];
  if (!p) throw new Error(`camrec: table ${name} was not pulled`);
  return p.value;
};

function denoiserWeights(params: Params, m: string): DenoiserWeights {
  const v = (k: string) => value(params, `${m}.denoise.${k}`);
  return { noisy: v('noisy'), condition: v('condition'), step: v('step'), bias: v('bias'), out: v('out'), outBias: v('outBias') };
}

function maskWeights(params: Params, l: number): EdgeMaskWeights {
  const v = (k: string) => value(params, `mask${l}.${k}`);
  return { user: v('user'), item: v('item'), bias: v('bias'), out: v('out'), outBias: v('outBias') };
}

/** Training: the step's batch (noise coordinates, VQ rows); absent at inference. */
interface StepContext {
  readonly batch: Batch;
  readonly batchItems: Int32Array;
}

interface ItemSide {
  readonly ego: tf.Tensor2D; // E_I + Σ_m α_m w x^m
  readonly modal: tf.Tensor2D | null; // Σ_m x^m, what the edge mask reads with maskInput 'modal' (else null)
  readonly diffusion: tf.Scalar | null;
  readonly vq: tf.Scalar | null;
}

/** H_c^m: the denoiser's one-shot estimate of h_0 from a noised h^m (training) or from step t* (inference). */
function confounder(
  params: Params,
  prep: CamrecPrepared,
  h: CamrecHyper,
  m: number,
  sem: tf.Tensor2D,
  condition: tf.Tensor2D,
  step: StepContext | null,
): { estimate: tf.Tensor2D; loss: tf.Scalar | null } {
  const weights = denoiserWeights(params, prep.modalities[m].name);
  const n = prep.nItems;
  if (!step) {
    const steps = new Int32Array(n).fill(h.inferStep);
    return { estimate: denoise(weights, sem, condition, steps, null, prep.schedule).estimate, loss: null };
  }
  const at = { seed: prep.seed, purpose: 'noise' as const, epoch: step.batch.epoch, step: step.batch.step };
  const steps = intPerRow(at, n, h.diffusionSteps, m * n);
  // L_dm = ‖sg(h_0) − f_θ(h_t, t, x^{m'})‖², CaMRec §4.1
  return denoise(weights, sem, condition, steps, normalRows(at, n, h.dim, m * n), prep.schedule);
}

/** Per modality: the semantic-graph features h^m and the confounder estimate H_c^m (h^m itself without diffusion). */
interface ModalityConfounder {
  readonly semantic: tf.Tensor2D;
  readonly confounder: tf.Tensor2D;
}

/** h^m = S^m F^m for every modality and, with the back door, H_c^m and the summed L_dm (CaMRec §4.1). */
function confounders(params: Params, prep: CamrecPrepared, h: CamrecHyper, step: StepContext | null) {
  const projected = prep.modalities.map((m) =>
    linear(m.features, value(params, `${m.name}.proj`), value(params, `${m.name}.projBias`)),
  );
  let diffusion: tf.Scalar | null = null;
  const perModality: ModalityConfounder[] = prep.modalities.map((m, k) => {
    const semantic = spmm(m.graph, projected[k]); // h^m = ISG(x^m)
    if (!h.backdoor || !h.diffusion) return { semantic, confounder: semantic };
    const other = projected[(k + 1) % projected.length]; // the dual channel: m conditioned on m'
    const c = confounder(params, prep, h, k, semantic, other, step);
    if (c.loss) diffusion = diffusion ? (tf.add(diffusion, c.loss) as tf.Scalar) : c.loss;
    return { semantic, confounder: c.estimate };
  });
  return { perModality, diffusion: diffusion as tf.Scalar | null };
}

/** Each item's modality inputs: semantic graph, confounder, environment stratum (CaMRec §4.1–4.2). */
function itemSide(params: Params, prep: CamrecPrepared, h: CamrecHyper, step: StepContext | null): ItemSide {
  const { perModality, diffusion } = confounders(params, prep, h, step);
  let ego: tf.Tensor2D = h.itemIds ? value(params, 'item') : tf.zeros([prep.nItems, h.dim]);
  let vq: tf.Scalar | null = null;
  const inputs: tf.Tensor2D[] = [];
  const add = (acc: tf.Scalar | null, x: tf.Scalar) => (acc ? (tf.add(acc, x) as tf.Scalar) : x);
  prep.modalities.forEach((m, k) => {
    const { semantic, confounder: hc } = perModality[k];
    if (!h.backdoor) {
      inputs.push(semantic);
      ego = tf.add(ego, gated(params, h, m.name, semantic));
      return;
    }
    const { z: zIn, codebook } = environmentInputs(params, h, m.name, hc);
    let stratum: tf.Tensor2D;
    if (step && h.assignment === 'hard') {
      const codes = nearestCodes(zIn, codebook);
      stratum = straightThrough(zIn, codebook, codes);
      vq = add(vq, vqRows(zIn, codebook, codes, step.batchItems, h.commitment));
    } else {
      stratum = softQuantize(zIn, codebook, h.softTemperature);
      if (step) vq = add(vq, vqRows(zIn, codebook, nearestCodes(zIn, codebook), step.batchItems, h.commitment));
    }
    const back = matMul(stratum, value(params, `${m.name}.env.out`));
    const x = tf.add(tf.mul(semantic, 1 - h.envWeight), tf.mul(back, h.envWeight)) as tf.Tensor2D;
    inputs.push(x);
    ego = tf.add(ego, gated(params, h, m.name, x));
  });
  const modal = h.maskInput !== 'modal' ? null : inputs.length === 1 ? inputs[0] : (tf.addN(inputs) as tf.Tensor2D);
  return { ego, modal, diffusion, vq };
}

/**
 * The InfoNCE weight's ramp: (epoch − 1)/warmup, capped at 1. On normalised views its gradient scales like
 * 1/‖x‖, so at initialisation (‖x‖ ≈ 0.1) it drowns BPR's under Adam's per-coordinate steps and the
 * embeddings stop learning; BPR alone first grows them (docs/camrec.md).
 */
export function warmupFactor(epoch: number, warmup: number): number {
  return warmup === 0 ? 1 : Math.min(1, Math.max(0, epoch - 1) / warmup);
}

/** α_m · modalityWeight · x^m: the modality channel's contribution to the item's input. */
function gated(params: Params, h: CamrecHyper, name: string, x: tf.Tensor2D): tf.Tensor2D {
  // x·1 is x to the bit, and so is its gradient dy·1: at the default weight the product is skipped
  const scaled = h.modalityWeight === 1 ? x : (tf.mul(x, h.modalityWeight) as tf.Tensor2D);
  return h.modalityGate ? (tf.mul(scaled, value(params, `${name}.gate`)) as tf.Tensor2D) : scaled;
}

/**
 * z^m = H_c^m P^m and the codebook. With `codebookNorm` z is centred over the items and both are scaled to unit
 * rows (cosine VQ, as ViT-VQGAN): item features share a large common component (all-positive CNN
 * activations), so raw or merely normalised z's all point one way and one code wins every item.
 */
function environmentInputs(params: Params, h: CamrecHyper, name: string, hc: tf.Tensor2D): { z: tf.Tensor2D; codebook: tf.Tensor2D } {
  const z = h.envProjection ? matMul(hc, value(params, `${name}.env.in`)) : hc;
  const codebook = value(params, 'codebook');
  if (!h.codebookNorm) return { z, codebook };
  return { z: l2Normalize(tf.sub(z, tf.mean(z, 0, true)) as tf.Tensor2D), codebook: l2Normalize(codebook) };
}

/** L_vq over the batch's items only, as the authors' code does. */
function vqRows(z: tf.Tensor2D, codebook: tf.Tensor2D, codes: Int32Array, rows: Int32Array, commitment: number): tf.Scalar {
  const picked = new Int32Array(rows.length);
  rows.forEach((r, k) => (picked[k] = codes[r]));
  return vqLoss(tf.gather(z, tf.tensor1d(rows, 'int32')) as tf.Tensor2D, codebook, picked, commitment);
}

/** Users' and items' rows of a [users + items, d] tensor. */
type Blocks = [users: tf.Tensor2D, items: tf.Tensor2D];

function splitBlocks(prep: CamrecPrepared, all: tf.Tensor2D): Blocks {
  return tf.split(all, [prep.nUsers, prep.nItems], 0) as Blocks;
}

/**
 * The backbone's mean X over Â (LightGCN eq. 8), as users' and items' blocks, and, with `keepLayers`, its layers
 * e^(0..L−1) for the edge mask: one op with the native addon (src/compute/kernels/layer-propagation.ts), whose
 * e^(0) is `ego` on the same memory and is what the other readers of ego must read, so that the tape sums their
 * gradients before the op's own.
 */
function backbone(prep: CamrecPrepared, ego: tf.Tensor2D, layers: number, keepLayers: boolean): { mean: Blocks; outputs: tf.Tensor2D[] } {
  if (!keepLayers) return { mean: splitBlocks(prep, propagate(prep.adjacency, ego, layers)), outputs: [] };
  const fused = propagateLayers(prep.adjacency, ego, layers, prep.nUsers);
  if (fused) return { mean: fused.mean, outputs: fused.layers };
  const outputs = [ego];
  for (let l = 0; l < layers; l++) outputs.push(spmm(prep.adjacency, outputs[l]));
  return { mean: splitBlocks(prep, tf.div(tf.addN(outputs), layers + 1) as tf.Tensor2D), outputs: outputs.slice(0, layers) };
}

/** Per-layer edge logits ω^(l) from the backbone's layer-l embeddings (the items' modal features with maskInput 'modal'). */
function edgeLogits(params: Params, prep: CamrecPrepared, h: CamrecHyper, outputs: tf.Tensor2D[], modal: tf.Tensor2D | null): tf.Tensor1D[] {
  const logits: tf.Tensor1D[] = [];
  for (let l = 0; l < h.layers; l++) {
    const mlp = edgeMaskLogits(maskWeights(params, l), maskLayer(prep, h, outputs[l], modal), prep.nUsers, prep.edges);
    if (!prep.edgePairs) {
      logits.push(mlp);
      continue;
    }
    const [users, items] = tf.split(outputs[l], [prep.nUsers, prep.nItems], 0) as [tf.Tensor2D, tf.Tensor2D];
    logits.push(tf.add(mlp, tf.mul(tf.reshape(value(params, `mask${l}.agree`), []), gatedSddmm(prep.edgePairs, users, items))) as tf.Tensor1D);
  }
  return logits;
}

/** [e_u^(l); e_i^(l)] for the edge MLP: the layer itself, or its users over the items' modal features (maskInput). */
function maskLayer(prep: CamrecPrepared, h: CamrecHyper, layer: tf.Tensor2D, modal: tf.Tensor2D | null): tf.Tensor2D {
  if (!modal) return layer;
  return tf.concat([tf.slice(layer, [0, 0], [prep.nUsers, -1]), modal], 0) as tf.Tensor2D;
}

/** Per-layer edge gates ρ^(l) (stochastic when uniforms are given). */
function edgeGates(logits: tf.Tensor1D[], h: CamrecHyper, uniforms: Float32Array | null): tf.Tensor1D[] {
  return logits.map((w, l) => concreteMask(w, uniforms ? column(uniforms, h.layers, l) : null, h.maskTemperature));
}

function column(rows: Float32Array, width: number, c: number): Float32Array {
  const out = new Float32Array(rows.length / width);
  for (let r = 0; r < out.length; r++) out[r] = rows[r * width + c];
  return out;
}

/** Each training edge's entry of Â, 1/√(d_u d_i), scaled to mean 1: read from Â's user rows, one entry per edge. */
export function messageWeights(adjacency: Csr, edgeOf: Int32Array, nUsers: number, nEdges: number): Float32Array {
  const w = new Float64Array(nEdges);
  let sum = 0;
  for (let p = 0; p < adjacency.indptr[nUsers]; p++) sum += w[edgeOf[p]] = adjacency.values![p];
  const mean = sum / Math.max(1, nEdges);
  return Float32Array.from(w, (x) => x / mean);
}

/** All layers' gates in one vector, each times its edge's price when there are prices. */
function priced(gates: tf.Tensor1D[], weights: Float32Array | null): tf.Tensor1D {
  if (!weights) return tf.concat(gates);
  const w = tf.tensor1d(weights);
  return tf.concat(gates.map((g) => tf.mul(g, w) as tf.Tensor1D));
}

/** The gates with the batch's positive edges set to 0 (maskHoldout). */
function holdOut(gates: tf.Tensor1D[], prep: CamrecPrepared, batch: Batch): tf.Tensor1D[] {
  const keep = new Float32Array(prep.nEdges).fill(1);
  for (let k = 0; k < batch.users.length; k++) keep[edgeIndex(prep.trainByUser, batch.users[k], batch.pos[k])] = 0;
  const t = tf.tensor1d(keep);
  return gates.map((g) => tf.mul(g, t) as tf.Tensor1D);
}

/**
 * X*: the mean of the layers propagated over the causal subgraph {e_ij ⊙ ρ_ij^(l)} (CaMRec §4.2); one op with the
 * native addon (src/compute/kernels/layer-propagation.ts).
 */
function maskedPropagation(prep: CamrecPrepared, ego: tf.Tensor2D, gates: tf.Tensor1D[]): Blocks {
  const fused = gatedPropagateLayers(prep.gated, ego, gates, prep.nUsers);
  if (fused) return fused;
  let cur = ego;
  const outputs = [ego];
  for (const rho of gates) {
    cur = gatedSpmm(prep.gated, rho, cur); // entry p of Â weighs Â_p · ρ_e(p), both directions of edge e alike
    outputs.push(cur);
  }
  return splitBlocks(prep, tf.div(tf.addN(outputs), gates.length + 1) as tf.Tensor2D);
}

/** Final users and items: the propagation's mean, items plus FREEDOM's S_mm E_I. */
function finalise([users, items]: Blocks, itemGraph: tf.Tensor2D | null): Representations {
  return { users, items: itemGraph ? tf.add(items, itemGraph) : items };
}

function freedomTerm(params: Params, prep: CamrecPrepared, h: CamrecHyper): tf.Tensor2D | null {
  return h.itemGraph ? spmm(prep.mixed, value(params, 'item')) : null;
}

function batchTriples(r: Representations, batch: Batch) {
  const idx = (a: Int32Array) => tf.tensor1d(a, 'int32');
  const g = (m: tf.Tensor2D, a: Int32Array) => tf.gather(m, idx(a)) as tf.Tensor2D;
  return { u: g(r.users, batch.users), p: g(r.items, batch.pos), n: g(r.items, batch.neg) };
}

function camrecLoss(params: Params, batch: Batch, prep: CamrecPrepared, h: CamrecHyper): LossOutput {
  const step: StepContext = { batch, batchItems: uniqueSorted(batch.pos, batch.neg) };
  const side = itemSide(params, prep, h, step);
  const ego = tf.concat([value(params, 'user'), side.ego], 0) as tf.Tensor2D;
  const main = backbone(prep, ego, h.layers, h.frontdoor);
  const itemGraph = freedomTerm(params, prep, h);
  const x = finalise(main.mean, itemGraph);
  const t = batchTriples(x, batch);
  const parts: Record<string, tf.Scalar> = { bpr: bprLoss(t.u, t.p, t.n) };
  const ego0 = (table: string, a: Int32Array) => tf.gather(value(params, table), tf.tensor1d(a, 'int32')) as tf.Tensor2D;
  const rows = h.itemIds ? [ego0('user', batch.users), ego0('item', batch.pos), ego0('item', batch.neg)] : [ego0('user', batch.users)];
  parts.reg = tf.mul(embLoss(batch.users.length, ...rows), h.reg) as tf.Scalar;
  if (side.diffusion) parts.diffusion = tf.mul(side.diffusion, h.diffWeight) as tf.Scalar;
  if (side.vq) parts.vq = tf.mul(side.vq, h.vqWeight) as tf.Scalar;
  if (h.frontdoor) {
    const at = { seed: prep.seed, purpose: 'mask' as const, epoch: batch.epoch, step: batch.step };
    const drawn = edgeGates(edgeLogits(params, prep, h, main.outputs, side.modal), h, uniformRows(at, prep.nEdges, h.layers));
    const gates = h.maskHoldout ? holdOut(drawn, prep, batch) : drawn;
    const xs = finalise(maskedPropagation(prep, main.outputs[0], gates), itemGraph);
    const ts = batchTriples(xs, batch);
    parts.bprMasked = bprLoss(ts.u, ts.p, ts.n);
    const ssl = tf.add(infoNce(t.u, ts.u, h.sslTemperature, h.sslBlock), infoNce(t.p, ts.p, h.sslTemperature, h.sslBlock));
    const sign = h.maskObjective === 'ib' ? -1 : 1;
    parts.ssl = tf.mul(ssl, sign * h.sslWeight * warmupFactor(batch.epoch, h.sslWarmup)) as tf.Scalar;
    if (h.maskSparsity > 0) parts.sparsity = tf.mul(tf.mean(priced(gates, prep.messageWeights)), h.maskSparsity) as tf.Scalar;
  }
  return { total: tf.addN(Object.values(parts)) as tf.Scalar, parts };
}

function camrecRepresent(params: Params, prep: CamrecPrepared, h: CamrecHyper): Representations {
  const side = itemSide(params, prep, h, null);
  const ego = tf.concat([value(params, 'user'), side.ego], 0) as tf.Tensor2D;
  return finalise(backbone(prep, ego, h.layers, false).mean, freedomTerm(params, prep, h));
}

/**
 * What `camrec explain` reports: each edge's deterministic retention ρ = σ(ω/τ) and its logit ω (means over
 * layers; ρ saturates at 0 or 1 in float32 for |ω| ≳ 3.5τ, ω still ranks such edges), and each item's stratum.
 */
export interface Explanation {
  readonly edgeUsers: Int32Array;
  readonly edgeItems: Int32Array;
  readonly edgeScores: Float32Array | null; // null without the front door
  readonly edgeLogits: Float32Array | null;
  readonly environments: readonly EnvironmentExplanation[];
}

/**
 * One modality's environments: each item's code (arg-max of the soft assignment) and its probability, and what the
 * assignment compared: the items' z^m and the codebook ([items, envDim] and [codes, envDim], row-major; centred and
 * unit rows with `codebookNorm`), for pictures of the strata (`camrec explain`'s figure).
 */
export interface EnvironmentExplanation {
  readonly modality: string;
  readonly codes: Int32Array;
  readonly confidence: Float32Array;
  readonly z: Float32Array;
  readonly codebook: Float32Array;
  readonly dim: number;
}

export function explainCamrec(params: Params, prep: CamrecPrepared, h: CamrecHyper): Explanation {
  const edgeUsers = prep.edges.users;
  const edgeItems = prep.edges.items;
  const mask = !h.frontdoor ? null : tf.tidy(() => {
    const side = itemSide(params, prep, h, null);
    const ego = tf.concat([value(params, 'user'), side.ego], 0) as tf.Tensor2D;
    const logits = edgeLogits(params, prep, h, backbone(prep, ego, h.layers, true).outputs, side.modal);
    const mean = (xs: tf.Tensor1D[]) => tf.div(tf.addN(xs), h.layers) as tf.Tensor1D;
    return [mean(edgeGates(logits, h, null)), mean(logits)];
  });
  const [edgeScores, edgeLogitsOut] = mask ? mask.map((t) => t.dataSync() as Float32Array) : [null, null];
  if (mask) tf.dispose(mask);
  const environments = h.backdoor ? stratumAssignments(params, prep, h) : [];
  return { edgeUsers, edgeItems, edgeScores, edgeLogits: edgeLogitsOut, environments };
}

/**
 * Per modality, the item-side representations at inference: h^m (semantic graph), H_c^m (the confounder
 * estimate; h^m itself without diffusion) and z^m (what the codebook quantises; null without the back door).
 * For diagnostics (experiments/nmi-representations.ts); values read out of tf.
 */
export function itemSideInternals(params: Params, prep: CamrecPrepared, h: CamrecHyper): { modality: string; semantic: Float32Array; confounder: Float32Array; z: Float32Array | null }[] {
  const t = tf.tidy(() => {
    const per = confounders(params, prep, h, null).perModality;
    return {
      semantic: per.map((c) => c.semantic),
      confounder: per.map((c) => c.confounder),
      z: h.backdoor ? per.map((c, k) => environmentInputs(params, h, prep.modalities[k].name, c.confounder).z) : [],
    };
  }) as { semantic: tf.Tensor2D[]; confounder: tf.Tensor2D[]; z: tf.Tensor2D[] };
  const read = (x: tf.Tensor2D) => x.dataSync() as Float32Array;
  const out = prep.modalities.map((m, k) => ({
    modality: m.name,
    semantic: read(t.semantic[k]),
    confounder: read(t.confounder[k]),
    z: t.z.length > 0 ? read(t.z[k]) : null,
  }));
  tf.dispose([...t.semantic, ...t.confounder, ...t.z]);
  return out;
}

function stratumAssignments(params: Params, prep: CamrecPrepared, h: CamrecHyper): Explanation['environments'] {
  const all = tf.tidy(() =>
    confounders(params, prep, h, null).perModality.map((c, k) => {
      const { z, codebook } = environmentInputs(params, h, prep.modalities[k].name, c.confounder);
      return [softAssignment(z, codebook, h.softTemperature), z, codebook];
    }),
  );
  return prep.modalities.map((m, k) => {
    const [probs, zT, codebookT] = all[k];
    const p = probs.dataSync() as Float32Array;
    const kk = probs.shape[1] as number;
    const z = zT.dataSync() as Float32Array;
    const codebook = codebookT.dataSync() as Float32Array;
    tf.dispose(all[k]);
    const codes = new Int32Array(prep.nItems);
    const confidence = new Float32Array(prep.nItems);
    for (let i = 0; i < prep.nItems; i++) {
      for (let c = 0; c < kk; c++) {
        if (p[i * kk + c] > confidence[i]) {
          confidence[i] = p[i * kk + c];
          codes[i] = c;
        }
      }
    }
    return { modality: m.name, codes, confidence, z, codebook, dim: h.envDim };
  });
}

export const camrec: Model<CamrecHyper, CamrecPrepared> = {
  name: 'camrec',
  description: 'CaMRec: cross-modal diffusion, environment codebook (back-door), edge-mask InfoNCE (front-door) on LightGCN',
  hyper: camrecHyper as unknown as z.ZodType<CamrecHyper>,
  // BPR on X and on X* are means over the batch's triples; reg, vq, diffusion and InfoNCE are not (docs/distributed.md)
  meanTerms: ['bpr', 'bprMasked'],
  prepare: prepareCamrec,
  tables: camrecTables,
  rows: (_batch, prep) => Object.fromEntries(prep.tables.map((n) => [n, null])), // full-graph: every row
  loss: camrecLoss,
  represent: camrecRepresent,
};
