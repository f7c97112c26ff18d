export type { Batch, PrepareContext, LossOutput, Model, NeighbourhoodLoss, Param, Params, Prepared, Representations } from './types.js';
export { ModelRegistry, models } from './registry.js';
export { bpr } from './bpr.js';
export { lightgcn, propagate } from './lightgcn.js';
export { camrec, camrecHyper, type CamrecHyper, type CamrecPrepared, type Explanation, explainCamrec, itemSideInternals } from './camrec.js';
