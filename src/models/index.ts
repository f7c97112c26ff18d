export type { Batch, LossOutput, Model, Param, Params, Prepared, Representations } from './types.js';
export { ModelRegistry, models } from './registry.js';
export { bpr } from './bpr.js';
export { lightgcn, propagate } from './lightgcn.js';
