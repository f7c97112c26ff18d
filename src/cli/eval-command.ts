import { availableParallelism } from 'node:os';
import { configureCompute, initBackend } from '../compute/index.js';
import type { BackendChoice } from '../config/index.js';
import { readCheckpoint, representations } from '../train/index.js';
import { openEvaluator } from './evaluator.js';
import { makeLogger } from './log.js';
import { checkpointConfig, openTrained } from './trained.js';

/** `camrec eval --checkpoint F`: rebuilds the model from the checkpoint and ranks both splits. */
export async function evalCommand(opts: Record<string, unknown>): Promise<number> {
  const log = makeLogger((opts.logLevel as string | undefined) ?? (opts.json ? 'warn' : 'info'));
  const path = String(opts.checkpoint);
  const ckpt = readCheckpoint(path);
  const cfg = checkpointConfig(path, ckpt, opts.data ? String(opts.data) : undefined);
  const threads = (opts.threads as number | undefined) ?? availableParallelism();
  await configureCompute({ threads, native: opts.native !== false && process.env.CAMREC_NATIVE !== '0' });
  await initBackend((opts.backend as BackendChoice | undefined) ?? cfg.backend);
  const t = await openTrained(path, ckpt, opts.data ? String(opts.data) : undefined);
  if (t.data.checksum !== ckpt.meta.datasetChecksum) {
    log.warn({ data: cfg.data }, 'the dataset differs from the one the checkpoint was trained on');
  }
  const evaluator = await openEvaluator(cfg, threads);
  try {
    const reps = await representations(t.model, t.store, t.prep, t.hyper);
    const out: Record<string, unknown> = { checkpoint: path, epoch: ckpt.meta.epoch, model: t.model.name };
    for (const split of ['valid', 'test'] as const) {
      const truth = split === 'valid' ? t.data.validByUser : t.data.testByUser;
      const r = await evaluator.evaluate({ userEmb: reps.users, itemEmb: reps.items, dim: reps.dim, mask: t.data.trainByUser, truth });
      out[split] = r.metrics;
      log.info({ split, users: r.users, seconds: r.seconds, 'recall@20': r.metrics['recall@20'], 'ndcg@20': r.metrics['ndcg@20'] }, 'evaluated');
    }
    if (opts.json) process.stdout.write(`${JSON.stringify(out)}\n`);
    else process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  } finally {
    t.dispose();
    await evaluator.close();
  }
}
