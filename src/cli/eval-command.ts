import { availableParallelism } from 'node:os';
import { configureCompute, initBackend } from '../compute/index.js';
import { trainConfig, type BackendChoice } from '../config/index.js';
import { loadDataset } from '../data/index.js';
import { CheckpointError } from '../errors/index.js';
import { models } from '../models/index.js';
import { makeStore, readCheckpoint, representations } from '../train/index.js';
import { openEvaluator } from './evaluator.js';
import { makeLogger } from './log.js';

/** `camrec eval --checkpoint F`: rebuilds the model from the checkpoint and ranks both splits. */
export async function evalCommand(opts: Record<string, unknown>): Promise<number> {
  const log = makeLogger((opts.logLevel as string | undefined) ?? (opts.json ? 'warn' : 'info'));
  const path = String(opts.checkpoint);
  const ckpt = readCheckpoint(path);
  const parsed = trainConfig.safeParse({ ...ckpt.meta.config, resume: false });
  if (!parsed.success) throw new CheckpointError(`${path}: its config no longer validates (${parsed.error.issues[0].message})`);
  const cfg = { ...parsed.data, ...(opts.data ? { data: String(opts.data) } : {}) };
  const threads = (opts.threads as number | undefined) ?? availableParallelism();
  await configureCompute({ threads, native: opts.native !== false && process.env.CAMREC_NATIVE !== '0' });
  await initBackend((opts.backend as BackendChoice | undefined) ?? cfg.backend);
  const data = await loadDataset(cfg.data);
  if (data.checksum !== ckpt.meta.datasetChecksum) {
    log.warn({ data: cfg.data }, 'the dataset differs from the one the checkpoint was trained on');
  }
  const model = models.get(ckpt.meta.model);
  const hyper = model.hyper.parse(ckpt.meta.hyper) as Record<string, unknown>;
  const store = makeStore(model, data, hyper, cfg, cfg.seed);
  await store.importState(ckpt.store);
  const prep = model.prepare(data, hyper, { seed: cfg.seed });
  const evaluator = await openEvaluator(cfg, threads);
  try {
    const reps = await representations(model, store, prep, hyper);
    const out: Record<string, unknown> = { checkpoint: path, epoch: ckpt.meta.epoch, model: model.name };
    for (const split of ['valid', 'test'] as const) {
      const truth = split === 'valid' ? data.validByUser : data.testByUser;
      const r = await evaluator.evaluate({ userEmb: reps.users, itemEmb: reps.items, dim: reps.dim, mask: data.trainByUser, truth });
      out[split] = r.metrics;
      log.info({ split, users: r.users, seconds: r.seconds, 'recall@20': r.metrics['recall@20'], 'ndcg@20': r.metrics['ndcg@20'] }, 'evaluated');
    }
    if (opts.json) process.stdout.write(`${JSON.stringify(out)}\n`);
    else process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  } finally {
    store.dispose();
    prep.release();
    await evaluator.close();
  }
}
