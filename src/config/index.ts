export { trainConfig, backendChoice } from './schema.js';
export type { TrainConfig, BackendChoice } from './schema.js';
export { readConfigFile, resolveConfig, configHash, stableJson } from './load.js';
