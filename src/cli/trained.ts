/** A trained model rebuilt from its checkpoint: what `camrec eval` and `camrec explain` both start from. */
import { trainConfig, type TrainConfig } from '../config/index.js';
import { loadDataset, type Dataset } from '../data/index.js';
import { CheckpointError } from '../errors/index.js';
import { models, type Model, type Prepared } from '../models/index.js';
import { makeStore, type Checkpoint, type LocalParamStore } from '../train/index.js';

export { withParams } from '../train/index.js';

/** A trained model rebuilt from its checkpoint, as `camrec eval` rebuilds it. */
export interface Trained {
  readonly path: string;
  readonly ckpt: Checkpoint;
  readonly cfg: TrainConfig;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly model: Model<any, any>;
  readonly hyper: Record<string, unknown>;
  readonly data: Dataset;
  readonly store: LocalParamStore;
  readonly prep: Prepared;
  dispose(): void;
}

/** Reads the checkpoint's config back; the dataset is the one it was trained on unless `dataDir` is given. */
export function checkpointConfig(path: string, ckpt: Checkpoint, dataDir?: string): TrainConfig {
  const parsed = trainConfig.safeParse({ ...ckpt.meta.config, resume: false });
  if (!parsed.success) throw new CheckpointError(`${path}: its config no longer validates (${parsed.error.issues[0].message})`);
  return { ...parsed.data, ...(dataDir ? { data: dataDir } : {}) };
}

/** Loads the data, the tables and the model's preparation of a checkpoint (compute must be configured). */
export async function openTrained(path: string, ckpt: Checkpoint, dataDir?: string): Promise<Trained> {
  const cfg = checkpointConfig(path, ckpt, dataDir);
  const data = await loadDataset(cfg.data);
  const model = models.get(ckpt.meta.model);
  const hyper = model.hyper.parse(ckpt.meta.hyper) as Record<string, unknown>;
  const store = makeStore(model, data, hyper, cfg, cfg.seed);
  await store.importState(ckpt.store);
  const prep = model.prepare(data, hyper, { seed: cfg.seed });
  return {
    path,
    ckpt,
    cfg,
    model,
    hyper,
    data,
    store,
    prep,
    dispose() {
      store.dispose();
      prep.release();
    },
  };
}
