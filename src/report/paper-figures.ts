/**
 * Published figures to set beside a run's (report.html's "Against the paper"): the CaMRec paper's Table 1 (overall
 * performance on Amazon Baby, Sports and Clothing) for the models camrec has, and its Table 2 (ablations on Baby),
 * as printed in ../shared/papers/camrec.txt. The paper's numbers come from MMRec's 8:1:1 split of each dataset
 * (another random draw than ../shared/datasets') and the authors' raw features; a dataset is matched by its name only.
 */

export interface PaperFigure {
  /** Where the figure is printed. */
  readonly source: string;
  /** camrec's model name. */
  readonly model: string;
  /** The paper's name for an ablation variant; absent for the full model. */
  readonly variant?: string;
  readonly dataset: string;
  readonly metrics: Readonly<Record<string, number>>;
}

const TABLE1 = 'CaMRec paper, Table 1';
const TABLE2 = 'CaMRec paper, Table 2 (ablations)';

/** R@10, R@20, N@10, N@20 in the paper's column order. */
function row(source: string, model: string, dataset: string, values: readonly [number, number, number, number], variant?: string): PaperFigure {
  const [r10, r20, n10, n20] = values;
  return { source, model, dataset, ...(variant ? { variant } : {}), metrics: { 'recall@10': r10, 'recall@20': r20, 'ndcg@10': n10, 'ndcg@20': n20 } };
}

function table1(model: string, baby: [number, number, number, number], sports: [number, number, number, number], clothing: [number, number, number, number]): PaperFigure[] {
  return [row(TABLE1, model, 'baby', baby), row(TABLE1, model, 'sports', sports), row(TABLE1, model, 'clothing', clothing)];
}

export const PAPER_FIGURES: readonly PaperFigure[] = [
  ...table1('bpr', [0.0357, 0.0575, 0.0192, 0.0249], [0.0432, 0.0653, 0.0241, 0.0298], [0.0206, 0.0303, 0.0114, 0.0138]),
  ...table1('lightgcn', [0.0479, 0.0754, 0.0257, 0.0328], [0.0569, 0.0864, 0.0311, 0.0387], [0.0361, 0.0544, 0.0197, 0.0243]),
  ...table1('vbpr', [0.0423, 0.0663, 0.0223, 0.0284], [0.0558, 0.0856, 0.0307, 0.0384], [0.0281, 0.0415, 0.0158, 0.0192]),
  ...table1('freedom', [0.0627, 0.0992, 0.033, 0.0424], [0.0717, 0.0999, 0.0385, 0.0479], [0.0621, 0.0939, 0.0339, 0.042]),
  ...table1('camrec', [0.0704, 0.1068, 0.0378, 0.0471], [0.0786, 0.1186, 0.043, 0.0531], [0.0658, 0.0976, 0.0358, 0.0439]),
  row(TABLE2, 'camrec', 'baby', [0.0644, 0.0984, 0.0352, 0.0439], 'w/o Backdoor'),
  row(TABLE2, 'camrec', 'baby', [0.0667, 0.1018, 0.0354, 0.0443], 'w/o Frontdoor'),
  row(TABLE2, 'camrec', 'baby', [0.0655, 0.0993, 0.0356, 0.044], 'w/o DCD'),
];

/**
 * The paper's name for what a CaMRec configuration leaves out: undefined for the full model, null for a combination
 * the paper does not report (two switches off, e.g. the backbone alone). Other models have no variants.
 */
export function paperVariant(model: string, hyper: Readonly<Record<string, unknown>>): string | undefined | null {
  if (model !== 'camrec') return undefined;
  const off = (['backdoor', 'frontdoor', 'diffusion'] as const).filter((k) => hyper[k] === false);
  if (off.length === 0) return undefined;
  if (off.length > 1) return null;
  return { backdoor: 'w/o Backdoor', frontdoor: 'w/o Frontdoor', diffusion: 'w/o DCD' }[off[0]];
}

/** The paper's figures for a model (and, for CaMRec, the variant its hyper-parameters make) on a dataset name. */
export function paperFigures(model: string, dataset: string, hyper: Readonly<Record<string, unknown>>): PaperFigure | null {
  const variant = paperVariant(model, hyper);
  if (variant === null) return null;
  return PAPER_FIGURES.find((f) => f.model === model && f.dataset === dataset.toLowerCase() && f.variant === variant) ?? null;
}
