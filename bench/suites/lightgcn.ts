/**
 * LightGCN, ours against the PyTorch peer (DESIGN.md §7): both in benchmark mode (exactly N epochs, then one
 * valid-split full-ranking evaluation), run as child processes, interleaved ours, peer, ours, peer, ... so that
 * a busy spell on the machine hits both sides; each figure is the median over the repeats.
 */
import { join } from 'node:path';
import { buildCamrec, runCamrec } from '../lib/camrec.js';
import { numberAt, type ChildRun, type JsonObject } from '../lib/child.js';
import { compareToTargets, type Ratio } from '../lib/compare.js';
import { checkTorchPeer, runTorchPeer, type TorchPeer } from '../lib/peer.js';
import { medians } from '../lib/stats.js';
import type { BenchOptions, Suite, SuiteOutcome } from '../lib/suite.js';
import { fixed, formatTable } from '../lib/table.js';
import { BenchError } from '../lib/errors.js';

const PEER_SCRIPT = 'torch_lightgcn.py';

interface Measurement {
  epochSeconds: number;
  evalSeconds: number;
  peakRssMb: number;
  validRecall20: number;
  testRecall20: number;
}

/** Ours may take at most this multiple of the peer's figure. */
const TARGETS = { epochSeconds: 1.5, evalSeconds: 1.5, peakRssMb: 2 } as const;

const ROWS: readonly { key: keyof Measurement; label: string; digits: number }[] = [
  { key: 'epochSeconds', label: 'train s/epoch', digits: 2 },
  { key: 'evalSeconds', label: 'valid eval s', digits: 2 },
  { key: 'peakRssMb', label: 'peak RSS MB', digits: 0 },
  { key: 'validRecall20', label: 'valid recall@20', digits: 4 },
  { key: 'testRecall20', label: 'test recall@20', digits: 4 },
];

/** The fields both sides report, read from either's result line (camelCase ours, snake_case the peer's). */
function measurement(json: JsonObject, keys: Record<keyof Measurement | 'epochsRun', string>, label: string, epochs: number): Measurement {
  const epochsRun = numberAt(json, keys.epochsRun, label);
  if (epochsRun !== epochs) throw new BenchError('CHILD_FAILED', `${label}: ran ${epochsRun} epochs, not the ${epochs} asked for`);
  return {
    epochSeconds: numberAt(json, keys.epochSeconds, label),
    evalSeconds: numberAt(json, keys.evalSeconds, label),
    peakRssMb: numberAt(json, keys.peakRssMb, label),
    validRecall20: numberAt(json, keys.validRecall20, label),
    testRecall20: numberAt(json, keys.testRecall20, label),
  };
}

const OURS_KEYS = {
  epochsRun: 'epochsRun',
  epochSeconds: 'meanEpochTrainSeconds',
  evalSeconds: 'meanEvalSeconds',
  peakRssMb: 'peakRssMb',
  validRecall20: 'valid.recall@20',
  testRecall20: 'test.recall@20',
};
const PEER_KEYS = {
  epochsRun: 'epochs_run',
  epochSeconds: 'mean_epoch_train_s',
  evalSeconds: 'mean_eval_s',
  peakRssMb: 'peak_rss_mb',
  validRecall20: 'valid.recall@20',
  testRecall20: 'test.recall@20',
};

interface Side {
  runs: { wallSeconds: number; result: JsonObject }[];
  measurements: Measurement[];
}

function record(side: Side, run: ChildRun, m: Measurement): void {
  side.runs.push({ wallSeconds: run.wallSeconds, result: run.json });
  side.measurements.push(m);
}

function brief(m: Measurement): string {
  return `${m.epochSeconds.toFixed(2)} s/epoch, eval ${m.evalSeconds.toFixed(2)} s, ${m.peakRssMb.toFixed(0)} MB, valid R@20 ${m.validRecall20.toFixed(4)}`;
}

/** "median (min–max)" over the repeats, or just the value for one run. */
function spread(xs: readonly number[], med: number, digits: number): string {
  if (xs.length < 2) return med.toFixed(digits);
  return `${med.toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
}

function datasetTable(ours: Side, peer: Side, mOurs: Measurement, mPeer: Measurement, ratios: Record<string, Ratio>): string {
  const rows = ROWS.map(({ key, label, digits }) => {
    const r = ratios[key] as Ratio | undefined;
    return [
      label,
      spread(ours.measurements.map((m) => m[key]), mOurs[key], digits),
      spread(peer.measurements.map((m) => m[key]), mPeer[key], digits),
      r ? `${r.ratio.toFixed(2)}×` : `${fixed(mOurs[key] / mPeer[key], 2)}×`,
      r ? `≤ ${r.target}×` : '(sanity)',
      r ? (r.met ? 'pass' : 'FAIL') : '',
    ];
  });
  return formatTable(['median (min–max)', 'camrec', 'torch peer', 'ours/peer', 'target', ''], rows);
}

/** "backend wasm, simd, 2 threads" from our result line's provenance. */
function describeBackend(provenance: unknown): string {
  const p = (provenance ?? {}) as { backend?: unknown; simd?: unknown; threads?: unknown };
  return `backend ${String(p.backend ?? '?')}${p.simd === true ? ', simd' : ''}, ${String(p.threads ?? '?')} threads`;
}

async function runLightgcn(opts: BenchOptions): Promise<SuiteOutcome> {
  const peer: TorchPeer = { python: opts.python, peersDir: join(opts.shared, 'peers') };
  checkTorchPeer(peer, PEER_SCRIPT);
  if (opts.build) buildCamrec();
  const datasets = opts.datasets ?? ['baby', 'sports', 'tiktok'];
  const epochs = String(opts.epochs);
  const threads = String(opts.threads);
  const perDataset: Record<string, unknown> = {};
  const sections: string[] = [];
  let met = 0;
  let checked = 0;
  let ourProvenance: unknown = null;
  let torchVersion = '?';

  for (const name of datasets) {
    const dir = join(opts.shared, 'datasets', name);
    const ours: Side = { runs: [], measurements: [] };
    const theirs: Side = { runs: [], measurements: [] };
    for (let r = 1; r <= opts.repeats; r++) {
      const tag = `${name} ${r}/${opts.repeats}`;
      const oursLabel = `camrec lightgcn on ${name} (run ${r})`;
      const o = await runCamrec(
        ['train', '--model', 'lightgcn', '--data', dir, '--bench-epochs', epochs, '--threads', threads],
        oursLabel,
        opts.timeoutMs,
      );
      record(ours, o, measurement(o.json, OURS_KEYS, oursLabel, opts.epochs));
      ourProvenance = o.json.provenance ?? null;
      opts.log(`[${tag}] camrec: ${brief(ours.measurements.at(-1)!)} (wall ${o.wallSeconds.toFixed(0)} s)`);
      const peerLabel = `torch peer on ${name} (run ${r})`;
      const p = await runTorchPeer(
        peer,
        PEER_SCRIPT,
        ['--data', dir, '--threads', threads, '--bench', '--bench-epochs', epochs],
        peerLabel,
        opts.timeoutMs,
      );
      record(theirs, p, measurement(p.json, PEER_KEYS, peerLabel, opts.epochs));
      opts.log(`[${tag}] peer:   ${brief(theirs.measurements.at(-1)!)} (wall ${p.wallSeconds.toFixed(0)} s)`);
    }
    const mOurs = medians(ours.measurements);
    const mPeer = medians(theirs.measurements);
    const ratios = compareToTargets(mOurs, mPeer, TARGETS);
    for (const r of Object.values<Ratio>(ratios)) {
      checked++;
      if (r.met) met++;
    }
    const p0 = theirs.runs[0].result;
    torchVersion = String(p0.torch_version);
    const count = (k: string) => Number(p0[k]).toLocaleString('en-US');
    const shape = `${count('users')} users, ${count('items')} items, ${count('train_interactions')} train`;
    const runs = opts.repeats === 1 ? '1 run' : `medians of ${opts.repeats} runs`;
    sections.push(`### ${name} (${shape}; ${runs})\n\n${datasetTable(ours, theirs, mOurs, mPeer, ratios)}`);
    perDataset[name] = { dir, ours: { runs: ours.runs, median: mOurs }, peer: { runs: theirs.runs, median: mPeer }, ratios };
  }

  const header =
    `LightGCN benchmark: ${opts.epochs} epochs + 1 valid evaluation, --threads ${opts.threads}, ` +
    `${opts.repeats} interleaved repeat(s) per side\n` +
    `${opts.machine.cpuModel}, ${opts.machine.cores} cores, node ${opts.machine.node}, torch ${torchVersion}, ` +
    `camrec ${describeBackend(ourProvenance)}`;
  const footer = `targets met: ${met}/${checked} (epoch ≤ ${TARGETS.epochSeconds}×, eval ≤ ${TARGETS.evalSeconds}×, RSS ≤ ${TARGETS.peakRssMb}× the peer)`;
  return {
    machine: { torch: torchVersion },
    result: { targets: TARGETS, ourProvenance, datasets: perDataset, targetsMet: met, targetsChecked: checked },
    report: [header, ...sections, footer].join('\n\n'),
  };
}

export const lightgcnSuite: Suite = {
  name: 'lightgcn',
  description: 'LightGCN epoch time, evaluation time and peak RSS against the PyTorch peer (baby, sports, tiktok)',
  run: runLightgcn,
};
