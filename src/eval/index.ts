/**
 * Evaluation (DESIGN.md §2), MMRec protocol: full ranking of all items by dot product for every user with
 * ground truth, the user's train items masked; recall, ndcg, precision, hit and mrr at each K (metrics.ts).
 * Equal scores rank the lower item id first. Embeddings must be finite.
 *
 * Users are scored in blocks on worker threads (tfjs-wasm matMul by default), each block fused with an exact
 * top-K selection pruned by group maxima (groups.ts, topk.ts), so the users × items score matrix is never
 * held. Metrics are folded user by user in a fixed order: results do not depend on threads or block size.
 */
export { createEvaluator, evaluate, evaluatedUsers } from './evaluator.js';
export type { EvalData, EvalInput, EvalResult, Evaluator, EvaluatorOptions, RangeResult, UserRange } from './evaluator.js';
export { DEFAULT_KS, METRICS, MetricSums, mergeTotals, metricKey, metricMeans } from './metrics.js';
export type { MetricName, MetricTotals } from './metrics.js';
export type { ScoreKernel } from './scorer.js';
export { TopK } from './topk.js';
