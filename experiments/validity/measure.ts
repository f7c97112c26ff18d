/**
 * The causal-validity figures of one seed (docs/simulator.md §5), as pure functions of what the trained models
 * and the simulator's ground truth give: codebook-vs-confounder NMI against k-means on the raw features,
 * edge-mask AUC for the injected noise edges against LightGCN's edge score and item popularity, codebook
 * perplexity, and the test metrics of both models on the unconfounded test split.
 */
import { saturation } from '../../src/cli/explain-figure.js';
import { DataError } from '../../src/errors/index.js';
import { assignmentCounts, codebookPerplexity, concatColumns, kmeans, normalizedMutualInfo, rocAuc, spearman } from '../../src/simulate/index.js';

/** The test metrics the harness reports (at the best-validation epoch, as every run reports them). */
export const TEST_METRICS = ['recall@20', 'ndcg@20'] as const;

export interface EdgeList {
  readonly users: Int32Array;
  readonly items: Int32Array;
}

/**
 * The explanation's edges (trainByUser order) must be the .inter file's train lines in file order, which is
 * the order of the noise flags (docs/simulator.md §3): same count, same (user, item) at every position.
 */
export function checkEdgeAlignment(explained: EdgeList, fileTrain: EdgeList, noiseFlags: ArrayLike<number>, file: string): void {
  const n = explained.users.length;
  if (fileTrain.users.length !== n || noiseFlags.length !== n) {
    throw new DataError({ file }, `${n} explained edges, ${fileTrain.users.length} train lines, ${noiseFlags.length} noise flags: not aligned`);
  }
  for (let j = 0; j < n; j++) {
    if (explained.users[j] !== fileTrain.users[j] || explained.items[j] !== fileTrain.items[j]) {
      throw new DataError(
        { file, line: j + 2 },
        `train edge ${j} is (${fileTrain.users[j]}, ${fileTrain.items[j]}) in the file but (${explained.users[j]}, ${explained.items[j]}) in trainByUser order: the noise flags would be misaligned`,
      );
    }
  }
}

/** ⟨e_u, e_i⟩ of every edge from final representations ([users, dim] and [items, dim], row-major). */
export function edgeDots(reps: { users: Float32Array; items: Float32Array; dim: number }, edges: EdgeList): Float64Array {
  const { dim } = reps;
  return Float64Array.from(edges.users, (u, j) => {
    const i = edges.items[j];
    let s = 0;
    for (let c = 0; c < dim; c++) s += reps.users[u * dim + c] * reps.items[i * dim + c];
    return s;
  });
}

/** deg_train(i): how many train edges each item has. */
export function itemDegrees(edgeItems: Int32Array, nItems: number): Int32Array {
  const deg = new Int32Array(nItems);
  for (const i of edgeItems) deg[i]++;
  return deg;
}

export interface SeedInputs {
  readonly seed: number;
  /** z_i, and the number of true environments K. */
  readonly itemEnv: Int32Array;
  readonly trueK: number;
  /** 1 = injected noise, per train edge (aligned with `edges`). */
  readonly trainNoise: Int32Array;
  readonly edges: EdgeList;
  readonly nItems: number;
  /** CaMRec: its codebook size, each modality's arg-max codes, each edge's retention ρ (null without the front door). */
  readonly codebookSize: number;
  readonly environments: readonly { readonly modality: string; readonly codes: Int32Array }[];
  readonly edgeScores: ArrayLike<number> | null;
  /** Each edge's logit ω (ρ = σ(ω/τ)): the same ranking as ρ, without float32 saturation ties. */
  readonly edgeLogits?: ArrayLike<number> | null;
  /** LightGCN's ⟨e_u, e_i⟩ per edge. */
  readonly lightgcnEdgeScores: ArrayLike<number>;
  /** ⟨e_u, e_i⟩ of the trained CaMRec's final representations per train edge (a diagnostic beside its mask). */
  readonly camrecEdgeScores?: ArrayLike<number>;
  /** The raw simulated features, concatenated as given (image, then text). */
  readonly features: readonly { readonly name: string; readonly data: Float32Array; readonly dim: number }[];
  readonly test: TestInputs;
}

/** Each model's metrics on the unconfounded test split; backbone: CaMRec without either adjustment (absent in older records). */
export interface TestInputs {
  readonly camrec: Record<string, number>;
  readonly lightgcn: Record<string, number>;
  readonly backbone?: Record<string, number>;
}

export interface KMeansFigure {
  readonly k: number;
  readonly nmi: number;
  readonly perplexity: number;
}

export interface SeedFigures {
  readonly seed: number;
  readonly nmi: {
    /** CaMRec's arg-max codes per modality vs z. */
    readonly codebook: Record<string, number>;
    /** k-means on the concatenated raw features, k = the codebook's size and k = the true K. */
    readonly kmeansCodes: KMeansFigure;
    readonly kmeansTrueK: KMeansFigure;
    readonly features: string[];
  };
  readonly perplexity: { readonly codebook: Record<string, number>; readonly codebookSize: number; readonly trueK: number; readonly truth: number };
  readonly auc: {
    /** 1 − ρ; null when CaMRec ran without the front door. */
    readonly camrec: number | null;
    /** Fraction of edges whose ρ is exactly 0 or 1 in float32 (tied, so ranked at random by the AUC); null without the front door. */
    readonly camrecSaturated: number | null;
    /**
     * Spearman's ρ of the mask's ranking (ω, else ρ) with the edge's item degree: near 1, the mask is an item-popularity
     * score (docs/camrec.md 24). null without the front door, or when either side is constant; absent in figures
     * recorded before session 16.
     */
    readonly camrecDegreeCorrelation?: number | null;
    /**
     * AUC of CaMRec's own edge score −⟨e_u, e_i⟩, scored as LightGCN's: what its representations know of the noise
     * edges, whether or not the mask uses it (a diagnostic, not a criterion). Absent in figures recorded before session 16.
     */
    readonly camrecEdgeScore?: number;
    readonly lightgcn: number;
    readonly popularity: number;
    readonly noiseEdges: number;
    readonly trainEdges: number;
  };
  readonly test: TestInputs;
}

/** k-means with k clusters on the features: its NMI with z and its own perplexity. */
export function kmeansFigure(x: Float32Array, n: number, dim: number, k: number, seed: number, labels: Int32Array): KMeansFigure {
  const { assignment } = kmeans(x, n, dim, k, { seed });
  return { k, nmi: normalizedMutualInfo(labels, assignment), perplexity: codebookPerplexity(assignmentCounts(assignment, k)) };
}

export function measureSeed(inp: SeedInputs): SeedFigures {
  const n = inp.nItems;
  const x = concatColumns(inp.features, n);
  const dim = inp.features.reduce((a, f) => a + f.dim, 0);
  const kmeansCodes = kmeansFigure(x, n, dim, inp.codebookSize, inp.seed, inp.itemEnv);
  const kmeansTrueK = inp.codebookSize === inp.trueK ? kmeansCodes : kmeansFigure(x, n, dim, inp.trueK, inp.seed, inp.itemEnv);
  const byModality = <T>(f: (codes: Int32Array) => T) => Object.fromEntries(inp.environments.map((e) => [e.modality, f(e.codes)]));
  const deg = itemDegrees(inp.edges.items, n);
  const noise = inp.trainNoise;
  return {
    seed: inp.seed,
    nmi: {
      codebook: byModality((codes) => normalizedMutualInfo(inp.itemEnv, codes)),
      kmeansCodes,
      kmeansTrueK,
      features: inp.features.map((f) => f.name),
    },
    perplexity: {
      codebook: byModality((codes) => codebookPerplexity(assignmentCounts(codes, inp.codebookSize))),
      codebookSize: inp.codebookSize,
      trueK: inp.trueK,
      truth: codebookPerplexity(assignmentCounts(inp.itemEnv, inp.trueK)),
    },
    auc: {
      camrec: camrecAuc(inp, noise),
      camrecSaturated: inp.edgeScores ? saturatedFraction(inp.edgeScores) : null,
      camrecDegreeCorrelation: degreeCorrelation(inp, deg),
      ...(inp.camrecEdgeScores ? { camrecEdgeScore: rocAuc(Float64Array.from(inp.camrecEdgeScores, (s) => -s), noise) } : {}),
      lightgcn: rocAuc(Float64Array.from(inp.lightgcnEdgeScores, (s) => -s), noise),
      popularity: rocAuc(Float64Array.from(inp.edges.items, (i) => -deg[i]), noise),
      noiseEdges: noise.reduce((a, b) => a + b, 0),
      trainEdges: noise.length,
    },
    test: testFigures(inp.test),
  };
}

/** AUC of the noise flags against "dropped-ness": −ω where the logits are known (ties-free), else 1 − ρ. */
function camrecAuc(inp: { edgeScores: ArrayLike<number> | null; edgeLogits?: ArrayLike<number> | null }, noise: Parameters<typeof rocAuc>[1]): number | null {
  if (inp.edgeLogits) return rocAuc(Float64Array.from(inp.edgeLogits, (w) => -w), noise);
  return inp.edgeScores ? rocAuc(Float64Array.from(inp.edgeScores, (r) => 1 - r), noise) : null;
}

function degreeCorrelation(inp: { edgeScores: ArrayLike<number> | null; edgeLogits?: ArrayLike<number> | null; edges: { items: Int32Array } }, deg: Int32Array): number | null {
  const mask = inp.edgeLogits ?? inp.edgeScores;
  if (!mask) return null;
  const rho = spearman(Float64Array.from(mask), Float64Array.from(inp.edges.items, (i) => deg[i]));
  return Number.isNaN(rho) ? null : rho;
}

function saturatedFraction(scores: ArrayLike<number>): number {
  const { one, zero } = saturation(scores);
  return (one + zero) / scores.length;
}

/** The reported test metrics of each model given. */
export function testFigures(test: TestInputs): TestInputs {
  return { camrec: pick(test.camrec), lightgcn: pick(test.lightgcn), ...(test.backbone ? { backbone: pick(test.backbone) } : {}) };
}

function pick(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(TEST_METRICS.map((k) => {
    if (!(k in metrics)) throw new RangeError(`test metric ${k} was not computed`);
    return [k, metrics[k]];
  }));
}
