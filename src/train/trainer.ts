/**
 * The single-process training loop: epochs of trainStep over the LocalParamStore, evaluation on the
 * validation split, early stopping (MMRec semantics), test metrics at the best validation epoch, atomic
 * checkpoints after every epoch and exact resume. Distribution swaps the store, not this loop.
 */
import * as tf from '@tensorflow/tfjs';
import type { Logger } from 'pino';
import type { TrainConfig } from '../config/index.js';
import { configHash } from '../config/index.js';
import type { Dataset } from '../data/types.js';
import type { Csr } from '../graph/index.js';
import type { Model, Params, Prepared } from '../models/types.js';
import { readMatchingCheckpoint, writeCheckpoint, type CheckpointMeta } from './checkpoint.js';
import { initialEarlyStop, updateEarlyStop, type EarlyStopState } from './earlystop.js';
import { adagrad, adam } from './optimizer.js';
import { LocalParamStore, type ParamStore } from './paramstore.js';
import { RunDir } from './rundir.js';
import { TrainSampler } from './sampler.js';
import { trainStep } from './step.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyModel = Model<any, any>;

/** Ranks every item for users given final representations; the evaluator behind it is injected. */
export interface SplitEvaluator {
  evaluate(input: {
    userEmb: Float32Array;
    itemEmb: Float32Array;
    dim: number;
    mask: Csr;
    truth: Csr;
  }): Promise<{ metrics: Record<string, number>; users: number; seconds: number }>;
}

/** What the caller shows while training runs (a progress bar on a TTY, log lines otherwise). */
export interface ProgressSink {
  epochStart(epoch: number, batches: number): void;
  batchDone(loss: number): void;
  epochEnd(): void;
}

export interface TrainerDeps {
  readonly log: Logger;
  readonly evaluator: SplitEvaluator;
  readonly progress?: ProgressSink;
  /** Facts about the environment recorded in result.json (backend, git commit, lockfile hash, ...). */
  readonly provenance: Record<string, unknown>;
}

export interface TrainerState {
  epoch: number;
  earlyStop: EarlyStopState;
  bestValid: Record<string, number> | null;
  bestTest: Record<string, number> | null;
  epochTrainSeconds: number[];
  evalSeconds: number[];
}

export type StoppedBy = 'early_stop' | 'max_epochs' | 'bench' | 'nan_loss';

export interface SeedResult {
  readonly seed: number;
  readonly model: string;
  readonly hyper: Record<string, unknown>;
  readonly dataset: Record<string, unknown>;
  readonly epochsRun: number;
  readonly bestEpoch: number;
  readonly stoppedBy: StoppedBy;
  readonly valid: Record<string, number>;
  readonly test: Record<string, number>;
  readonly meanEpochTrainSeconds: number;
  readonly meanEvalSeconds: number;
  readonly totalSeconds: number;
  readonly peakRssMb: number;
  readonly provenance: Record<string, unknown>;
}

export function describeDataset(data: Dataset): Record<string, unknown> {
  return {
    name: data.name,
    dir: data.dir,
    users: data.nUsers,
    items: data.nItems,
    train: data.train.users.length,
    valid: data.valid.users.length,
    test: data.test.users.length,
    checksum: data.checksum,
    modalities: data.modalities.map((m) => ({ name: m.name, dim: m.dim, standIn: m.standIn, provenance: m.provenance })),
  };
}

export function makeStore(model: AnyModel, data: Dataset, hyper: Record<string, unknown>, cfg: TrainConfig, seed: number) {
  const opt = cfg.optimizer === 'adam' ? adam(cfg.lr) : adagrad(cfg.lr);
  return new LocalParamStore(model.tables(data, hyper), opt, seed);
}

/** Every row of every table as tensors, for `fn`; disposed afterwards (fn returns plain arrays, not tensors). */
export async function withParams<T>(store: ParamStore, fn: (params: Params) => T): Promise<T> {
  const values = await Promise.all(store.specs.map((s) => store.pull(s.name, null)));
  const params: Record<string, { value: tf.Tensor2D; ids: null }> = {};
  store.specs.forEach((s, i) => {
    params[s.name] = { value: tf.tensor2d(values[i], [s.rows, s.dim]), ids: null };
  });
  try {
    return fn(params);
  } finally {
    for (const p of Object.values(params)) p.value.dispose();
  }
}

/** Pulls every row and computes the final user and item representations as plain arrays. */
export async function representations(
  model: AnyModel,
  store: ParamStore,
  prep: Prepared,
  hyper: Record<string, unknown>,
): Promise<{ users: Float32Array; items: Float32Array; dim: number }> {
  return withParams(store, (params) => {
    // Typed arrays must not be returned from tf.tidy: it would walk them element by element.
    const reps = tf.tidy(() => {
      const r = model.represent(params, prep, hyper);
      return [r.users, r.items];
    });
    try {
      return { users: reps[0].dataSync() as Float32Array, items: reps[1].dataSync() as Float32Array, dim: reps[0].shape[1] as number };
    } finally {
      tf.dispose(reps);
    }
  });
}

/** What an evaluation reads: the model and its tables in a store, the data, and the evaluator. */
export interface EvalInputs {
  readonly model: AnyModel;
  readonly store: ParamStore;
  readonly prep: Prepared;
  readonly hyper: Record<string, unknown>;
  readonly data: Dataset;
  readonly evaluator: SplitEvaluator;
}

/** One evaluation; its time includes computing the representations (the propagation), as the peer's does. */
export async function evaluateSplit(split: 'valid' | 'test', e: EvalInputs): Promise<{ metrics: Record<string, number>; users: number; seconds: number }> {
  const t = performance.now();
  const reps = await representations(e.model, e.store, e.prep, e.hyper);
  const truth = split === 'valid' ? e.data.validByUser : e.data.testByUser;
  const r = await e.evaluator.evaluate({ userEmb: reps.users, itemEmb: reps.items, dim: reps.dim, mask: e.data.trainByUser, truth });
  return { ...r, seconds: (performance.now() - t) / 1000 };
}

/** A checkpoint's header for one seed's run after `epoch` epochs (what --resume and `camrec eval` read). */
export function checkpointMeta(
  cfg: TrainConfig,
  seed: number,
  data: Dataset,
  model: AnyModel,
  hyper: Record<string, unknown>,
  epoch: number,
  state: TrainerState,
): CheckpointMeta {
  return {
    model: model.name,
    hyper,
    config: { ...cfg, seed },
    configHash: trainingIdentity(cfg, seed),
    datasetChecksum: data.checksum,
    epoch,
    trainer: state as unknown as Record<string, unknown>,
  };
}

/** Trains one seed into `dir`, resuming from its last.ckpt when asked. */
export async function trainSeed(
  cfg: TrainConfig,
  seed: number,
  data: Dataset,
  model: AnyModel,
  dir: RunDir,
  deps: TrainerDeps,
): Promise<SeedResult> {
  const t0 = performance.now();
  const log = deps.log.child({ component: 'trainer', seed });
  const hyper = model.hyper.parse(cfg.hyper) as Record<string, unknown>;
  const prep = model.prepare(data, hyper, { seed });
  const store = makeStore(model, data, hyper, cfg, seed);
  try {
    const meta = (epoch: number, state: TrainerState) => checkpointMeta(cfg, seed, data, model, hyper, epoch, state);
    const state = await startState(cfg, dir, store, meta(0, freshState()), log);
    const sampler = new TrainSampler(data, seed, cfg.batch);
    const maxEpochs = cfg.benchEpochs ?? cfg.epochs;
    let stoppedBy: StoppedBy = cfg.benchEpochs ? 'bench' : 'max_epochs';

    const evaluate = (split: 'valid' | 'test') => evaluateSplit(split, { model, store, prep, hyper, data, evaluator: deps.evaluator });

    while (state.epoch < maxEpochs && !state.earlyStop.stopped) {
      const epoch = state.epoch + 1;
      const te = performance.now(); // the epoch's time includes shuffling and negative sampling, as the peer's does
      const batches = sampler.epoch(epoch);
      deps.progress?.epochStart(epoch, batches.length);
      let lossSum = 0;
      const partSums: Record<string, number> = {};
      for (const batch of batches) {
        const r = await trainStep(model, batch, store, prep, hyper);
        lossSum += r.loss;
        for (const [k, v] of Object.entries(r.parts)) partSums[k] = (partSums[k] ?? 0) + v;
        deps.progress?.batchDone(r.loss);
      }
      deps.progress?.epochEnd();
      const trainSeconds = (performance.now() - te) / 1000;
      state.epochTrainSeconds.push(trainSeconds);
      state.epoch = epoch;
      const line: Record<string, unknown> = {
        epoch,
        loss: lossSum / batches.length,
        parts: Object.fromEntries(Object.entries(partSums).map(([k, v]) => [k, v / batches.length])),
        trainSeconds,
      };
      if (!Number.isFinite(lossSum)) {
        stoppedBy = 'nan_loss';
        dir.appendMetrics(line);
        log.error({ epoch }, 'loss is not finite; stopping');
        break;
      }
      const evalNow = cfg.benchEpochs ? epoch === maxEpochs : epoch % cfg.evalEvery === 0;
      if (evalNow) {
        const valid = await evaluate('valid');
        state.evalSeconds.push(valid.seconds);
        const score = valid.metrics[cfg.selectMetric];
        if (score === undefined) throw new Error(`selection metric ${cfg.selectMetric} not computed`);
        const es = updateEarlyStop(state.earlyStop, score, epoch, cfg.benchEpochs ? Infinity : cfg.patience);
        state.earlyStop = { best: es.best, bestEpoch: es.bestEpoch, sinceBest: es.sinceBest, stopped: es.stopped };
        line.valid = valid.metrics;
        line.evalSeconds = valid.seconds;
        if (es.improved) {
          const test = await evaluate('test');
          line.test = test.metrics;
          line.testEvalSeconds = test.seconds;
          state.bestValid = valid.metrics;
          state.bestTest = test.metrics;
          writeCheckpoint(dir.file('best.ckpt'), { meta: meta(epoch, state), store: await store.exportState() });
        }
        if (es.stopped) stoppedBy = 'early_stop';
        log.info(
          { epoch, loss: line.loss, [cfg.selectMetric]: score, best: state.earlyStop.best, bestEpoch: state.earlyStop.bestEpoch },
          'epoch',
        );
      } else {
        log.info({ epoch, loss: line.loss }, 'epoch');
      }
      dir.appendMetrics(line);
      writeCheckpoint(dir.file('last.ckpt'), { meta: meta(epoch, state), store: await store.exportState() });
    }
    if (!state.bestValid || !state.bestTest) throw new Error('training ended without an evaluation');
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
    const result: SeedResult = {
      seed,
      model: model.name,
      hyper,
      dataset: describeDataset(data),
      epochsRun: state.epoch,
      bestEpoch: state.earlyStop.bestEpoch,
      stoppedBy,
      valid: state.bestValid,
      test: state.bestTest,
      meanEpochTrainSeconds: mean(state.epochTrainSeconds),
      meanEvalSeconds: mean(state.evalSeconds),
      totalSeconds: (performance.now() - t0) / 1000,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      provenance: deps.provenance,
    };
    dir.writeJson('result.json', result);
    return result;
  } finally {
    store.dispose();
    prep.release();
  }
}

/**
 * Hash of what determines the trajectory; a checkpoint resumes only under the same one. Fields that only
 * change how a run is shown, where it goes, or how long it may go on are left out.
 */
export function trainingIdentity(cfg: TrainConfig, seed: number): string {
  const { resume: _r, json: _j, logLevel: _l, epochs: _e, out: _o, seeds: _s, threads: _t, ...rest } = cfg;
  return configHash({ ...rest, seed });
}

function freshState(): TrainerState {
  return { epoch: 0, earlyStop: initialEarlyStop, bestValid: null, bestTest: null, epochTrainSeconds: [], evalSeconds: [] };
}

/** A fresh state, or the one in last.ckpt when resuming (checked against this run's model, config and data). */
async function startState(
  cfg: TrainConfig,
  dir: RunDir,
  store: ParamStore,
  fresh: CheckpointMeta,
  log: Logger,
): Promise<TrainerState> {
  if (!cfg.resume || !dir.has('last.ckpt')) {
    if (cfg.resume) log.warn({ dir: dir.path }, 'nothing to resume: no last.ckpt; starting fresh');
    return freshState();
  }
  const path = dir.file('last.ckpt');
  const ckpt = readMatchingCheckpoint(path, { ...fresh, tables: store.specs.map((t) => t.name) });
  await store.importState(ckpt.store);
  dir.truncateMetrics(ckpt.meta.epoch);
  const state = ckpt.meta.trainer as unknown as TrainerState;
  log.info({ epoch: state.epoch, path }, 'resumed');
  return { ...state, earlyStop: { ...state.earlyStop, best: state.earlyStop.best ?? -Infinity } };
}
