/**
 * CaMRec against our own LightGCN (issue 4): epoch time as a ratio to the LightGCN epoch on the same data and
 * machine (aim ≤ 3×), evaluation time, and peak RSS (aim ≤ 8 GiB on microlens-50k). Both sides run in
 * benchmark mode (exactly N epochs, then one valid evaluation) as child processes, interleaved, medians over
 * the repeats. No peer here: the PyTorch peer trains only LightGCN.
 */
import { join } from 'node:path';
import { buildCamrec, runCamrec } from '../lib/camrec.js';
import { numberAt, type JsonObject } from '../lib/child.js';
import { BenchError } from '../lib/errors.js';
import { median } from '../lib/stats.js';
import type { BenchOptions, Suite, SuiteOutcome } from '../lib/suite.js';
import { formatTable } from '../lib/table.js';

const EPOCH_RATIO_TARGET = 3;
const RSS_TARGET_MB = 8 * 1024;

interface Figures {
  epochSeconds: number;
  evalSeconds: number;
  peakRssMb: number;
  validRecall20: number;
}

function figures(json: JsonObject, label: string, epochs: number): Figures {
  const run = numberAt(json, 'epochsRun', label);
  if (run !== epochs) throw new BenchError('CHILD_FAILED', `${label}: ran ${run} epochs, not ${epochs}`);
  return {
    epochSeconds: numberAt(json, 'meanEpochTrainSeconds', label),
    evalSeconds: numberAt(json, 'meanEvalSeconds', label),
    peakRssMb: numberAt(json, 'peakRssMb', label),
    validRecall20: numberAt(json, 'valid.recall@20', label),
  };
}

function medianOf(runs: readonly Figures[]): Figures {
  const pick = (k: keyof Figures) => median(runs.map((r) => r[k]));
  return { epochSeconds: pick('epochSeconds'), evalSeconds: pick('evalSeconds'), peakRssMb: pick('peakRssMb'), validRecall20: pick('validRecall20') };
}

async function runSuite(opts: BenchOptions): Promise<SuiteOutcome> {
  if (opts.build) buildCamrec();
  const datasets = opts.datasets ?? ['baby', 'microlens-50k'];
  const common = ['--bench-epochs', String(opts.epochs), '--threads', String(opts.threads)];
  const perDataset: Record<string, unknown> = {};
  const rows: string[][] = [];
  for (const name of datasets) {
    const dir = join(opts.shared, 'datasets', name);
    const sides: Record<'camrec' | 'lightgcn', Figures[]> = { camrec: [], lightgcn: [] };
    for (let r = 1; r <= opts.repeats; r++) {
      for (const model of ['camrec', 'lightgcn'] as const) {
        const label = `${model} on ${name} (run ${r})`;
        const run = await runCamrec(['train', '--model', model, '--data', dir, ...common], label, opts.timeoutMs);
        const f = figures(run.json, label, opts.epochs);
        sides[model].push(f);
        opts.log(`[${name} ${r}/${opts.repeats}] ${model}: ${f.epochSeconds.toFixed(2)} s/epoch, eval ${f.evalSeconds.toFixed(2)} s, ${f.peakRssMb.toFixed(0)} MB`);
      }
    }
    const c = medianOf(sides.camrec);
    const l = medianOf(sides.lightgcn);
    const ratio = c.epochSeconds / l.epochSeconds;
    perDataset[name] = { camrec: { runs: sides.camrec, median: c }, lightgcn: { runs: sides.lightgcn, median: l }, epochRatio: ratio };
    rows.push([
      name,
      c.epochSeconds.toFixed(2),
      l.epochSeconds.toFixed(2),
      `${ratio.toFixed(2)}× ${ratio <= EPOCH_RATIO_TARGET ? 'pass' : 'FAIL'}`,
      `${c.evalSeconds.toFixed(2)} / ${l.evalSeconds.toFixed(2)}`,
      `${c.peakRssMb.toFixed(0)} ${c.peakRssMb <= RSS_TARGET_MB ? 'pass' : 'FAIL'}`,
      `${c.validRecall20.toFixed(4)} / ${l.validRecall20.toFixed(4)}`,
    ]);
  }
  const header =
    `CaMRec vs our LightGCN: ${opts.epochs} epoch(s) + 1 valid evaluation, --threads ${opts.threads}, ` +
    `${opts.repeats} interleaved repeat(s), medians\n${opts.machine.cpuModel}, ${opts.machine.cores} cores, node ${opts.machine.node}`;
  const table = formatTable(
    ['dataset', 'camrec s/epoch', 'lightgcn s/epoch', `ratio (≤ ${EPOCH_RATIO_TARGET}×)`, 'eval s camrec / lightgcn', `camrec peak RSS MB (≤ ${RSS_TARGET_MB})`, 'valid R@20 camrec / lightgcn'],
    rows,
  );
  return { result: { targets: { epochRatio: EPOCH_RATIO_TARGET, peakRssMb: RSS_TARGET_MB }, datasets: perDataset }, report: `${header}\n\n${table}` };
}

export const camrecSuite: Suite = {
  name: 'camrec',
  description: 'CaMRec epoch time as a ratio to our LightGCN, evaluation time and peak RSS (baby, microlens-50k)',
  run: runSuite,
};
