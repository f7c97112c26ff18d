/**
 * One seed of the causal-validity experiment, end to end: the simulated dataset with the fixed settings
 * (docs/simulator.md §4), CaMRec, LightGCN and CaMRec's backbone alone trained by `camrec train` itself (a child
 * process each, early stopping on valid), then the figures of measure.ts from their best-validation checkpoints. Every stage
 * whose output exists is skipped, and an interrupted training resumes from its last.ckpt.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { explainTrained } from '../../src/cli/explain-command.js';
import { openTrained, type Trained } from '../../src/cli/trained.js';
import { stableJson, type BackendChoice } from '../../src/config/index.js';
import { writeFileAtomic } from '../../src/data/index.js';
import { ConfigError, DataError } from '../../src/errors/index.js';
import { GROUND_TRUTH_FILE, readGroundTruth, resolveSettings, simulate, writeSimulation } from '../../src/simulate/index.js';
import { readCheckpoint, representations, type SeedResult } from '../../src/train/index.js';
import { checkEdgeAlignment, edgeDots, measureSeed, testFigures, type SeedFigures } from './measure.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'scripts', 'camrec-dev.mts');
export const FORMAT = 'camrec-causal-validity/1';

export interface HarnessOptions {
  readonly out: string;
  readonly preset: string;
  readonly epochs?: number;
  readonly patience?: number;
  /** CaMRec hyper-parameters beyond its defaults (e.g. codebookSize = 8); LightGCN keeps its defaults. */
  readonly hyper: Record<string, unknown>;
  readonly threads: number;
  readonly backend: BackendChoice;
  readonly log: Logger;
}

/**
 * Early-stopping patience of every training in the experiment, in epochs. `camrec train`'s default of 20 stopped
 * LightGCN on its initial plateau: on these data its valid Recall@20 stays flat for about 60 epochs (25 steps
 * each) before it learns anything but popularity (results/README.md, causal-validity-p100), so the baseline was
 * barely trained. The same patience applies to all three models.
 */
export const DEFAULT_PATIENCE = 100;
/** What folders recorded before DEFAULT_PATIENCE (setup.json `patience: null`) trained with: `camrec train`'s default. */
const RECORDED_NULL_PATIENCE = 20;

/** What the figures depend on; a folder holds the results of one setup only. */
export function setupOf(opts: Pick<HarnessOptions, 'preset' | 'epochs' | 'patience' | 'hyper'>): Record<string, unknown> {
  return {
    format: FORMAT,
    preset: opts.preset,
    settings: resolveSettings(opts.preset, {}),
    epochs: opts.epochs ?? null,
    patience: opts.patience ?? DEFAULT_PATIENCE,
    camrecHyper: opts.hyper,
  };
}

/** A recorded setup.json as setupOf now writes it (older folders wrote `patience: null` for the CLI's default). */
function normalisedSetup(recorded: unknown): unknown {
  if (typeof recorded !== 'object' || recorded === null || !('patience' in recorded) || recorded.patience !== null) return recorded;
  return { ...recorded, patience: RECORDED_NULL_PATIENCE };
}

/** Records the setup in <out>/setup.json, or refuses a folder that holds another setup's results. */
export function claimFolder(out: string, setup: Record<string, unknown>): void {
  const file = join(out, 'setup.json');
  mkdirSync(out, { recursive: true });
  if (existsSync(file)) {
    const have = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (stableJson(normalisedSetup(have)) !== stableJson(setup)) {
      throw new ConfigError(`--out ${out}: holds results of another setup (${file}: ${stableJson(have)}); use another folder`);
    }
    return;
  }
  writeFileAtomic(file, `${JSON.stringify(setup, null, 2)}\n`);
}

type Training = Pick<SeedResult, 'bestEpoch' | 'epochsRun' | 'stoppedBy' | 'totalSeconds'>;
const training = (r: SeedResult): Training => ({ bestEpoch: r.bestEpoch, epochsRun: r.epochsRun, stoppedBy: r.stoppedBy, totalSeconds: r.totalSeconds });

/** CaMRec's backbone alone: the run's hyper-parameters with both adjustments off (`--no-backdoor --no-frontdoor`). */
export const backboneHyper = (hyper: Record<string, unknown>): Record<string, unknown> => ({ ...hyper, backdoor: false, frontdoor: false });

export interface SeedRecord {
  readonly figures: SeedFigures;
  readonly camrecHyper: Record<string, unknown>;
  readonly training: Record<'camrec' | 'lightgcn', Training> & { readonly backbone?: Training };
  readonly dataChecksum: string;
}

export const seedFile = (out: string, seed: number) => join(out, `seed-${seed}`, 'figures.json');

export async function runSeed(opts: HarnessOptions, seed: number): Promise<SeedRecord> {
  const log = opts.log.child({ component: 'causal-validity', seed });
  const file = seedFile(opts.out, seed);
  const dir = join(opts.out, `seed-${seed}`);
  const dataDir = join(dir, `sim-s${seed}`);
  if (existsSync(file)) {
    const record = JSON.parse(readFileSync(file, 'utf8')) as SeedRecord;
    if (record.figures.test.backbone) {
      log.info({ file }, 'figures exist; skipping the seed');
      return record;
    }
    // Recorded before the backbone was a baseline: train it and add its test figures, leaving the rest as measured.
    await ensureSimulation(dataDir, opts.preset, seed, log);
    const backbone = await trainModel('camrec', backboneHyper(opts.hyper), dataDir, join(dir, 'backbone'), seed, opts, log);
    const added: SeedRecord = {
      ...record,
      figures: { ...record.figures, test: testFigures({ ...record.figures.test, backbone: backbone.test }) },
      training: { ...record.training, backbone: training(backbone) },
    };
    writeFileAtomic(file, `${JSON.stringify(added, null, 2)}\n`);
    log.info({ file }, 'backbone added to the recorded figures');
    return added;
  }
  await ensureSimulation(dataDir, opts.preset, seed, log);
  const camrec = await trainModel('camrec', opts.hyper, dataDir, join(dir, 'camrec'), seed, opts, log);
  const lightgcn = await trainModel('lightgcn', {}, dataDir, join(dir, 'lightgcn'), seed, opts, log);
  const backbone = await trainModel('camrec', backboneHyper(opts.hyper), dataDir, join(dir, 'backbone'), seed, opts, log);
  log.info('measuring');
  const record = await measure(dataDir, join(dir, 'camrec'), join(dir, 'lightgcn'), seed, { camrec, lightgcn, backbone });
  writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
  log.info({ file }, 'seed done');
  return record;
}

/** The simulated dataset of this seed, written once; on a rerun its ground truth is checked and kept. */
async function ensureSimulation(dataDir: string, preset: string, seed: number, log: Logger): Promise<void> {
  if (existsSync(join(dataDir, GROUND_TRUTH_FILE))) {
    const { truth } = await readGroundTruth(dataDir);
    if (truth.seed === seed && truth.preset === preset) return;
    throw new DataError({ file: join(dataDir, GROUND_TRUTH_FILE) }, `was simulated with seed ${truth.seed}, preset ${truth.preset}; expected ${seed}, ${preset}`);
  }
  writeSimulation(dataDir, simulate(resolveSettings(preset, {}), seed), { preset, force: true });
  log.info({ dataDir, preset }, 'simulated');
}

/** `camrec train` args for one model of one seed. */
export function trainArgs(model: string, hyper: Record<string, unknown>, dataDir: string, runDir: string, seed: number, opts: Pick<HarnessOptions, 'epochs' | 'patience' | 'threads' | 'backend'>, resume: boolean): string[] {
  return [
    'train', '--model', model, '--data', dataDir, '--seed', String(seed), '--out', runDir, '--json',
    '--threads', String(opts.threads), '--backend', opts.backend,
    ...(opts.epochs !== undefined ? ['--epochs', String(opts.epochs)] : []),
    '--patience', String(opts.patience ?? DEFAULT_PATIENCE),
    ...Object.entries(hyper).flatMap(([k, v]) => ['--hyper', `${k}=${JSON.stringify(v)}`]),
    ...(resume ? ['--resume'] : []),
  ];
}

/** Trains one model through the CLI (its log goes to <runDir>.log), unless its result.json exists. */
async function trainModel(model: string, hyper: Record<string, unknown>, dataDir: string, runDir: string, seed: number, opts: HarnessOptions, log: Logger): Promise<SeedResult> {
  const result = join(runDir, 'result.json');
  if (!existsSync(result)) {
    const resume = existsSync(join(runDir, 'last.ckpt'));
    log.info({ model, runDir, resume }, 'training');
    await runCli(trainArgs(model, hyper, dataDir, runDir, seed, opts, resume), `${runDir}.log`);
  }
  return JSON.parse(readFileSync(result, 'utf8')) as SeedResult;
}

function runCli(args: string[], logFile: string): Promise<void> {
  const fd = openSync(logFile, 'a');
  return new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', fd] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`camrec ${args[0]} exited with ${code}; see ${logFile}`))));
  }).finally(() => closeSync(fd));
}

/** Opens a run's best-validation checkpoint, checked against the dataset it is measured on. */
async function openBest(runDir: string): Promise<Trained> {
  const path = join(runDir, 'best.ckpt');
  const ckpt = readCheckpoint(path);
  const t = await openTrained(path, ckpt);
  if (t.data.checksum !== ckpt.meta.datasetChecksum) {
    t.dispose();
    throw new DataError({ file: path }, `trained on dataset ${ckpt.meta.datasetChecksum}, but ${t.cfg.data} is now ${t.data.checksum}`);
  }
  return t;
}

async function measure(dataDir: string, camrecDir: string, lightgcnDir: string, seed: number, runs: Record<'camrec' | 'lightgcn' | 'backbone', SeedResult>): Promise<SeedRecord> {
  const gt = await readGroundTruth(dataDir);
  const c = await openBest(camrecDir);
  let camrecPart;
  try {
    const e = await explainTrained(c);
    const edges = { users: e.edgeUsers, items: e.edgeItems };
    checkEdgeAlignment(edges, c.data.train, gt.trainNoise, join(dataDir, `${c.data.name}.inter`));
    camrecPart = {
      edges,
      hyper: c.hyper,
      nItems: c.data.nItems,
      checksum: c.data.checksum,
      codebookSize: Number(c.hyper.codebookSize),
      environments: e.environments,
      edgeScores: e.edgeScores,
      edgeLogits: e.edgeLogits,
      features: c.data.modalities.map((m) => ({ name: m.name, data: m.features, dim: m.dim })),
      camrecEdgeScores: edgeDots(await representations(c.model, c.store, c.prep, c.hyper), edges),
    };
  } finally {
    c.dispose();
  }
  const l = await openBest(lightgcnDir);
  let lightgcnEdgeScores;
  try {
    lightgcnEdgeScores = edgeDots(await representations(l.model, l.store, l.prep, l.hyper), camrecPart.edges);
  } finally {
    l.dispose();
  }
  const figures = measureSeed({
    seed,
    itemEnv: gt.itemEnv,
    trueK: gt.truth.settings.k,
    trainNoise: gt.trainNoise,
    lightgcnEdgeScores,
    test: { camrec: runs.camrec.test, lightgcn: runs.lightgcn.test, backbone: runs.backbone.test },
    ...camrecPart,
  });
  return {
    figures,
    camrecHyper: camrecPart.hyper,
    training: { camrec: training(runs.camrec), lightgcn: training(runs.lightgcn), backbone: training(runs.backbone) },
    dataChecksum: camrecPart.checksum,
  };
}
