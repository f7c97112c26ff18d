import { cpSync, existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { ZodType } from 'zod';
import { basename, join, resolve } from 'node:path';
import { configureCompute, initBackend, allocatorTuning, heapGrowth, nativeKernels } from '../compute/index.js';
import { readConfigFile, resolveConfig, trainConfig, type TrainConfig } from '../config/index.js';
import { loadDataset } from '../data/index.js';
import { parseConsistency } from '../coordinator/index.js';
import { ConfigError } from '../errors/index.js';
import { models } from '../models/index.js';
import { checkNeighbourhood, formatMeanStd, RunDir, summarize, trainSeed, type Neighbourhood, type SeedResult } from '../train/index.js';
import type { Logger } from 'pino';
import { REPORT_FILE, writeRunReport } from '../report/run-report.js';
import { makeLogger } from './log.js';
import { terminalProgress } from './progress.js';
import { gitCommit, lockfileHash, packageVersion } from './provenance.js';
import { openEvaluator } from './evaluator.js';
import { gridPoints, searchGrid } from './grid.js';
import { checkDistributable, parseDistributed, runLocalCluster } from './local-cluster.js';
import { checkTaskQueue, type TaskQueueKind } from './flags.js';

/** Flags that are the model's hyper-parameters, gathered under `hyper`. */
const HYPER_FLAGS = ['dim', 'layers', 'reg'] as const;
/** CaMRec's ablation switches (`--no-backdoor` ...): commander sets them true unless negated; only `false` is passed on. */
const SWITCH_FLAGS = ['backdoor', 'frontdoor', 'diffusion'] as const;

export function flagsToConfig(opts: Record<string, unknown>): Record<string, unknown> {
  const { config: _c, hyper, native, ...rest } = opts;
  const h: Record<string, unknown> = { ...(hyper as Record<string, unknown> | undefined) };
  for (const k of HYPER_FLAGS) {
    if (rest[k] !== undefined) h[k] = rest[k];
    delete rest[k];
  }
  for (const k of SWITCH_FLAGS) {
    if (rest[k] === false) h[k] = false;
    delete rest[k];
  }
  return { ...rest, ...(native === false ? { native: false } : {}), ...(Object.keys(h).length ? { hyper: h } : {}) };
}

export function loadTrainConfig(opts: Record<string, unknown>): Readonly<TrainConfig> {
  const layers = [];
  if (typeof opts.config === 'string') layers.push({ source: opts.config, values: readConfigFile(opts.config) });
  layers.push({ source: 'flags', values: flagsToConfig(opts) });
  return resolveConfig(trainConfig, layers);
}

/** Validates hyper-parameters against the model's schema; the first problem becomes one clear line. */
export function checkHyper(model: { readonly name: string; readonly hyper: ZodType }, hyper: unknown): void {
  const res = model.hyper.safeParse(hyper);
  if (res.success) return;
  const issue = res.error.issues[0];
  const field = issue.path.length ? `'${issue.path.join('.')}' ` : '';
  throw new ConfigError(`hyper-parameter ${field}of model ${model.name}: ${issue.message}`);
}

/** The run's hyper-parameters and every grid point's, each validated against the model's schema. */
export function checkRunHyper(model: { readonly name: string; readonly hyper: ZodType }, cfg: Pick<TrainConfig, 'hyper' | 'grid'>): void {
  checkHyper(model, cfg.hyper);
  for (const p of cfg.grid ? gridPoints(cfg.grid) : []) checkHyper(model, { ...cfg.hyper, ...p.hyper });
}

/** Flags that mean something only to a distributed run. */
const DISTRIBUTED_ONLY = [
  ['tasksPerStep', '--tasks-per-step'],
  ['nats', '--nats'],
  ['taskQueue', '--task-queue'],
  ['consistency', '--consistency'],
  ['evalOnCoordinator', '--eval-on-coordinator'],
  ['neighbourhood', '--neighbourhood'],
  ['wire', '--wire'],
] as const;

export async function trainCommand(opts: Record<string, unknown>): Promise<number> {
  if (opts.distributed !== undefined) return trainDistributed(opts);
  for (const [key, flag] of DISTRIBUTED_ONLY) if (opts[key] !== undefined) throw new ConfigError(`flag ${flag} needs --distributed local:W:S`);
  const cfg = loadTrainConfig(opts);
  const log = makeLogger(cfg.json && cfg.logLevel === 'info' ? 'warn' : cfg.logLevel);
  const model = models.get(cfg.model);
  checkRunHyper(model, cfg); // fail early on bad hyper-parameters
  if (cfg.resume && !cfg.out) throw new ConfigError('--resume needs --out <dir>: the run directory to continue');
  const threads = cfg.threads ?? availableParallelism();
  await configureCompute({ threads, native: cfg.native && process.env.CAMREC_NATIVE !== '0' });
  const backend = { ...(await initBackend(cfg.backend)), native: nativeKernels()?.isa() ?? null, allocator: allocatorTuning(), heapGrowingPercent: heapGrowth() };
  log.info(backend, 'backend');
  const data = await loadDataset(cfg.data);
  for (const m of data.modalities) if (m.standIn) log.warn({ modality: m.name, provenance: m.provenance }, 'stand-in features');
  const outDir = runDirPath(cfg);
  const root = new RunDir(outDir);
  root.writeJson('config.json', cfg);
  const provenance = runProvenance(backend);
  const evaluator = await openEvaluator(cfg, threads);
  const deps = { log, evaluator, progress: cfg.json ? undefined : terminalProgress(), provenance };
  const train = (c: TrainConfig, seed: number, dir: RunDir) => {
    log.info({ seed, dir: dir.path, model: c.model, data: data.name, hyper: c.hyper }, 'training');
    return trainSeed(c, seed, data, model, dir, deps);
  };
  try {
    await runAll(cfg, root, train, log);
  } finally {
    await evaluator.close();
  }
  return 0;
}

/**
 * The grid (when given: every point with the first seed, selected on valid), then every seed, one run directory
 * each; a summary result.json over them; the report line, report.html and the --json line. `train` runs one seed of one
 * configuration into a run directory, in this process or through a local cluster.
 */
async function runAll(cfg: TrainConfig, root: RunDir, train: (c: TrainConfig, seed: number, dir: RunDir) => Promise<SeedResult>, log: Logger): Promise<void> {
  const seeds = cfg.seeds ?? [cfg.seed];
  const results: SeedResult[] = [];
  let chosen: TrainConfig = { ...cfg, grid: undefined };
  let selectedRun: string | null = null;
  if (cfg.grid) {
    const { selected } = await searchGrid(chosen, cfg.grid, seeds[0], root, train);
    log.info({ selected: selected.name }, `grid: selected ${selected.name} on valid ${cfg.selectMetric}`);
    chosen = { ...chosen, hyper: { ...cfg.hyper, ...selected.hyper } };
    selectedRun = join(root.path, 'grid', selected.name);
  }
  for (const seed of seeds) {
    const dir = seeds.length > 1 || cfg.grid ? new RunDir(join(root.path, `seed-${seed}`)) : root;
    // The grid trained the selected point with the first seed already: that run is this seed's (the same
    // configuration and seed give the same run), so it is copied rather than trained again.
    const copied = selectedRun && seed === seeds[0] && !finishedRun(dir) ? copyFinishedRun(selectedRun, dir) : null;
    if (copied) log.info({ seed, dir: dir.path, from: selectedRun }, 'the grid\'s run of the selected point is this seed\'s: copied, not trained again');
    results.push(copied ?? (await train(chosen, seed, dir)));
  }
  const summary = seeds.length > 1 || cfg.grid ? writeSummary(root, results) : results[0];
  report(cfg, root.path, results, log);
  writeReport(root.path, log);
  if (cfg.json) process.stdout.write(`${JSON.stringify({ out: root.path, ...summary })}\n`);
}

/** `--distributed local:W:S`: the same run through S shards, a coordinator and W workers on this machine. */
async function trainDistributed(opts: Record<string, unknown>): Promise<number> {
  const { distributed, tasksPerStep, nats, taskQueue, consistency, evalOnCoordinator, neighbourhood, wire, ...rest } = opts;
  const cluster = parseDistributed(String(distributed));
  if (typeof consistency === 'string') parseConsistency(consistency);
  const queue = checkTaskQueue(taskQueue as TaskQueueKind | undefined, nats);
  const cfg = loadTrainConfig(rest);
  checkDistributable(cfg, '--distributed');
  const model = models.get(cfg.model);
  checkRunHyper(model, cfg);
  // refused here rather than by every worker, which would leave the coordinator waiting
  if (typeof neighbourhood === 'string') checkNeighbourhood(model, neighbourhood as Neighbourhood);
  const log = makeLogger(cfg.json && cfg.logLevel === 'info' ? 'warn' : cfg.logLevel);
  const root = new RunDir(runDirPath(cfg));
  const coordinatorFlags = [
    // One task per worker by default: every LightGCN/CaMRec task reads whole tables, so more tasks than workers
    // only repeat that traffic; the split never changes the result (docs/distributed.md §3).
    '--tasks-per-step', String(tasksPerStep ?? cluster.workers),
    // The first epoch waits for every worker this command starts (each starts in a second or two), so that the
    // first steps and evaluations are spread over all of them; one that never comes is waited for 2 minutes.
    '--min-workers', String(cluster.workers),
    '--gather-timeout-ms', '120000',
    ...(typeof nats === 'string' ? ['--nats', nats] : []),
    // The workers take the task queue (and its NATS server) from the coordinator's JobSpec.
    ...(queue === 'jetstream' ? ['--task-queue', queue] : []),
    ...(typeof consistency === 'string' ? ['--consistency', consistency] : []),
    ...(evalOnCoordinator === true ? ['--eval-on-coordinator'] : []),
    ...(typeof wire === 'string' ? ['--wire', wire] : []),
  ];
  const workerFlags = typeof neighbourhood === 'string' ? ['--neighbourhood', neighbourhood] : [];
  if (cfg.seeds || cfg.grid) root.writeJson('config.json', cfg); // each seed's coordinator writes its own
  const train = async (c: TrainConfig, seed: number, dir: RunDir): Promise<SeedResult> => {
    const done = cfg.resume ? finishedRun(dir) : null;
    if (done) {
      log.info({ seed, dir: dir.path }, 'already finished: kept');
      return done;
    }
    log.info({ seed, dir: dir.path, model: c.model, hyper: c.hyper }, 'training');
    const job = { ...c, seed, seeds: undefined, grid: undefined, out: dir.path };
    const code = await runLocalCluster({ cluster, cfg: job, coordinatorFlags, workerFlags, log });
    if (code !== 0) throw new ClusterFailed(code);
    return JSON.parse(readFileSync(join(dir.path, 'result.json'), 'utf8')) as SeedResult;
  };
  try {
    await runAll(cfg, root, train, log);
  } catch (err) {
    if (err instanceof ClusterFailed) return err.code; // the coordinator has said why on stderr
    throw err;
  }
  return 0;
}

/** A local cluster's coordinator exited non-zero (it has said why on stderr). */
class ClusterFailed extends Error {
  constructor(readonly code: number) {
    super(`the coordinator exited with code ${code}`);
  }
}

/** Copies the finished run in `from` (result, metrics, checkpoints) into `dir`; null when `from` has none. */
function copyFinishedRun(from: string, dir: RunDir): SeedResult | null {
  const done = finishedRun(new RunDir(from));
  if (!done) return null;
  cpSync(from, dir.path, { recursive: true });
  return done;
}

/** A run directory's result.json when its run has finished (early stop or the epoch budget), else null. */
function finishedRun(dir: RunDir): SeedResult | null {
  const path = join(dir.path, 'result.json');
  if (!existsSync(path)) return null;
  const r = JSON.parse(readFileSync(path, 'utf8')) as SeedResult;
  return r.stoppedBy ? r : null;
}

function writeSummary(root: RunDir, results: SeedResult[]) {
  const summary = {
    seeds: results.map((r) => r.seed),
    model: results[0].model,
    dataset: results[0].dataset,
    valid: summarize(results.map((r) => r.valid)),
    test: summarize(results.map((r) => r.test)),
    bestEpochs: results.map((r) => r.bestEpoch),
    stoppedBy: results.map((r) => r.stoppedBy),
    runs: results.map((r) => `seed-${r.seed}`),
  };
  root.writeJson('result.json', summary);
  return summary;
}

function report(cfg: TrainConfig, outDir: string, results: SeedResult[], log: ReturnType<typeof makeLogger>): void {
  const keys = ['recall@20', 'ndcg@20', 'recall@10', 'ndcg@10'];
  const test = summarize(results.map((r) => r.test));
  const valid = summarize(results.map((r) => r.valid));
  const line = keys.map((k) => `${k} ${formatMeanStd(test[k])}`).join('  ');
  log.info(
    { out: outDir, seeds: results.map((r) => r.seed), validRecall20: formatMeanStd(valid['recall@20']) },
    `${cfg.model} test (best valid epoch): ${line}`,
  );
}

/**
 * report.html beside the result (src/report/run-report.ts). The results are on disk before it is made, so a report
 * that cannot be made is a warning, not a failed run: `camrec report <dir>` makes it again and says why it cannot.
 */
function writeReport(dir: string, log: Logger): void {
  try {
    log.info({ report: writeRunReport(dir) }, 'report written');
  } catch (err) {
    log.warn({ err: (err as Error).message }, `${REPORT_FILE} not written`);
  }
}

/** The run directory: --out, else runs/<model>-<data>-<time>. */
export function runDirPath(cfg: Pick<TrainConfig, 'out' | 'model' | 'data'>): string {
  return resolve(cfg.out ?? join('runs', `${cfg.model}-${basename(resolve(cfg.data))}-${timestamp()}`));
}

/** Facts about the environment recorded in result.json. */
export function runProvenance(backend: object): Record<string, unknown> {
  return {
    camrec: packageVersion(),
    gitCommit: gitCommit(),
    lockfileSha256: lockfileHash(),
    node: process.version,
    ...backend,
  };
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
}
