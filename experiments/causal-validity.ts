/**
 * The causal-validity experiment of issue 4 (docs/simulator.md §5), on the simulator's fixed settings:
 *
 *   node --import tsx experiments/causal-validity.ts --seeds 1,2,3 --out results/causal-validity-<date>
 *        [--preset default] [--epochs n] [--patience n] [--hyper codebookSize=8] [--threads n] [--backend b]
 *
 * Per seed: <out>/seed-<s>/{sim-s<s>/, camrec/, lightgcn/, figures.json}; then <out>/summary.{json,md,svg} over the
 * seeds asked for. Seeds whose figures.json exists are skipped, so an interrupted run continues where it
 * stopped. experiments/README.md describes the outputs.
 */
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { hyperFlag, intListFlag, numberFlag } from '../src/cli/flags.js';
import { makeLogger } from '../src/cli/log.js';
import { checkHyper } from '../src/cli/train-command.js';
import { configureCompute, initBackend, shutdownCompute } from '../src/compute/index.js';
import type { BackendChoice } from '../src/config/index.js';
import { writeFileAtomic } from '../src/data/index.js';
import { CamrecError } from '../src/errors/index.js';
import { models } from '../src/models/index.js';
import { figureSubtitle, validityFigure } from './validity/figure.js';
import { claimFolder, runSeed, setupOf, type HarnessOptions } from './validity/run.js';
import { summarizeSeeds, summaryMarkdown } from './validity/summary.js';

interface Flags {
  seeds: number[];
  out: string;
  preset: string;
  epochs?: number;
  patience?: number;
  hyper?: Record<string, unknown>;
  threads?: number;
  backend: BackendChoice;
  logLevel: string;
}

async function causalValidity(f: Flags): Promise<void> {
  const hyper = f.hyper ?? {};
  checkHyper(models.get('camrec'), hyper);
  const opts: HarnessOptions = {
    out: resolve(f.out),
    preset: f.preset,
    epochs: f.epochs,
    patience: f.patience,
    hyper,
    threads: f.threads ?? availableParallelism(),
    backend: f.backend,
    log: makeLogger(f.logLevel),
  };
  const setup = setupOf(opts);
  claimFolder(opts.out, setup);
  await configureCompute({ threads: opts.threads, native: true });
  await initBackend(opts.backend);
  try {
    const records = [];
    for (const seed of f.seeds) records.push(await runSeed(opts, seed));
    const summary = summarizeSeeds(records.map((r) => r.figures), { ...setup, camrecHyperResolved: records[0].camrecHyper });
    writeFileAtomic(join(opts.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    writeFileAtomic(join(opts.out, 'summary.md'), summaryMarkdown(summary));
    writeFileAtomic(join(opts.out, 'summary.svg'), validityFigure(summary, figureSubtitle(summary)));
    opts.log.info({ out: opts.out, seeds: f.seeds }, 'summary written');
  } finally {
    await shutdownCompute();
  }
}

async function main(argv: string[]): Promise<number> {
  const program = new Command('causal-validity')
    .description('codebook NMI, edge-mask AUC, codebook perplexity and test metrics of CaMRec vs baselines on simulated data')
    .requiredOption('--seeds <list>', 'seeds, e.g. 1,2,3 (each: its own simulated dataset and training seed)', intListFlag('--seeds'))
    .requiredOption('--out <dir>', 'results folder (resumable: finished seeds are skipped)')
    .option('--preset <name>', 'simulator preset: default (the fixed settings) or tiny (smoke runs)', 'default')
    .option('--epochs <n>', 'maximum epochs per training (early stopping on valid still applies)', numberFlag('--epochs'))
    .option('--patience <n>', 'early-stopping patience in evaluations, for all three models (default 100)', numberFlag('--patience'))
    .option('--hyper <key=value>', 'a CaMRec hyper-parameter, e.g. codebookSize=8 (repeatable)', hyperFlag)
    .option('--threads <n>', 'worker threads', numberFlag('--threads'))
    .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'wasm', 'tensorflow', 'tensorflow-gpu']).default('auto'))
    .addOption(new Option('--log-level <level>').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'))
    .exitOverride()
    .action(async (flags: Flags) => causalValidity(flags));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof CamrecError) {
      process.stderr.write(`causal-validity: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`causal-validity: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
