import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { pino } from 'pino';
import { initBackend, kernelCounters } from '../../src/compute/index.js';
import { resolveConfig, trainConfig, type TrainConfig } from '../../src/config/index.js';
import { createEvaluator } from '../../src/eval/index.js';
import { models } from '../../src/models/index.js';
import { readCheckpoint, RunDir, trainSeed, type SplitEvaluator } from '../../src/train/index.js';
import { randomDataset } from '../helpers/tiny.js';
import { tempDir } from '../helpers/files.js';

const log = pino({ level: 'silent' });
const data = randomDataset(120, 60, 10, 4);

function config(over: Record<string, unknown>): TrainConfig {
  return resolveConfig(trainConfig, [{ source: 'test', values: { batch: 128, lr: 0.01, hyper: { dim: 16, layers: 2 }, ...over } }]);
}

async function evaluator(): Promise<SplitEvaluator & { close(): Promise<void> }> {
  const ev = await createEvaluator({ threads: 1 });
  return {
    evaluate: (i) => ev.evaluate({ ...i, nUsers: i.mask.nRows, nItems: i.mask.nCols }),
    close: () => ev.close(),
  };
}

before(async () => {
  await initBackend('wasm');
});

test('LightGCN trains on the wasm backend, through our kernels, and its loss falls', async () => {
  const ev = await evaluator();
  try {
    const before = kernelCounters();
    const dir = new RunDir(tempDir('train'));
    const r = await trainSeed(config({ benchEpochs: 8 }), 1, data, models.get('lightgcn'), dir, { log, evaluator: ev, provenance: {} });
    assert.equal(tf.getBackend(), 'wasm');
    const after = kernelCounters();
    const ran = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    assert.ok(ran('CamrecPropagateMean') > 0, 'the fused sparse propagation kernel ran');
    assert.ok(ran('UnsortedSegmentSum') > 0, 'our segment-sum kernel ran (gather gradients)');
    const lines = readFileSync(dir.file('metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 8);
    assert.ok(lines[7].loss < lines[0].loss * 0.9, `loss fell: ${lines[0].loss} -> ${lines[7].loss}`);
    assert.ok(lines.every((l) => Number.isFinite(l.loss)));
    assert.equal(r.epochsRun, 8);
    assert.ok(r.test['recall@20'] >= 0 && r.test['recall@20'] <= 1);
  } finally {
    await ev.close();
  }
});

test('a training step leaves no tensors behind', async () => {
  const ev = await evaluator();
  try {
    const dir = new RunDir(tempDir('leak'));
    const cfg = config({ benchEpochs: 1 });
    await trainSeed(cfg, 1, data, models.get('lightgcn'), dir, { log, evaluator: ev, provenance: {} });
    const n0 = tf.memory().numTensors;
    await trainSeed(config({ benchEpochs: 2, hyper: { dim: 16 } }), 1, data, models.get('bpr'), new RunDir(tempDir('leak')), { log, evaluator: ev, provenance: {} });
    await trainSeed(cfg, 2, data, models.get('lightgcn'), new RunDir(tempDir('leak')), { log, evaluator: ev, provenance: {} });
    assert.equal(tf.memory().numTensors, n0);
  } finally {
    await ev.close();
  }
});

test('a resume whose model defaults changed since the run began is refused, and the run is left as it was', async () => {
  const ev = await evaluator();
  try {
    const model = models.get('lightgcn');
    const dir = new RunDir(tempDir('defaults'));
    await trainSeed(config({ epochs: 2, patience: 100 }), 3, data, model, dir, { log, evaluator: ev, provenance: {} });
    const ckpt = readFileSync(dir.file('last.ckpt'));
    const metrics = readFileSync(dir.file('metrics.jsonl'));
    // the same config ({ dim, layers } given, reg left to the default) under a model whose default reg is another
    const changed = { ...model, hyper: model.hyper.transform((h) => ({ ...h, reg: 0.5 })) } as typeof model;
    await assert.rejects(
      trainSeed(config({ epochs: 4, patience: 100, resume: true }), 3, data, changed, dir, { log, evaluator: ev, provenance: {} }),
      /last\.ckpt: was written with hyper reg=0\.0001, this run resolves reg=0\.5/,
    );
    // an option added since (so the checkpoint does not name it) whose default adds a table: refused too
    const grown = { ...model, tables: (d: typeof data, h: never) => [...model.tables(d, h), { name: 'extra', rows: 1, dim: 1, init: { kind: 'zeros' }, trainable: true }] } as typeof model;
    await assert.rejects(
      trainSeed(config({ epochs: 4, patience: 100, resume: true }), 3, data, grown, dir, { log, evaluator: ev, provenance: {} }),
      /last\.ckpt: lacks table extra, which this run's model declares/,
    );
    // ... or drops one, whose values a store would otherwise leave behind without a word
    const shrunk = { ...model, tables: (d: typeof data, h: never) => model.tables(d, h).filter((t) => t.name !== 'item') } as typeof model;
    await assert.rejects(
      trainSeed(config({ epochs: 4, patience: 100, resume: true }), 3, data, shrunk, dir, { log, evaluator: ev, provenance: {} }),
      /last\.ckpt: holds table item, which this run's model does not declare/,
    );
    assert.deepEqual(readFileSync(dir.file('last.ckpt')), ckpt);
    assert.deepEqual(readFileSync(dir.file('metrics.jsonl')), metrics);
  } finally {
    await ev.close();
  }
});

test('a resumed run continues exactly as an uninterrupted one', async () => {
  const ev = await evaluator();
  try {
    const model = models.get('lightgcn');
    const full = new RunDir(tempDir('full'));
    await trainSeed(config({ epochs: 6, patience: 100 }), 5, data, model, full, { log, evaluator: ev, provenance: {} });
    const part = new RunDir(tempDir('part'));
    await trainSeed(config({ epochs: 3, patience: 100 }), 5, data, model, part, { log, evaluator: ev, provenance: {} });
    await trainSeed(config({ epochs: 6, patience: 100, resume: true }), 5, data, model, part, { log, evaluator: ev, provenance: {} });
    const strip = (d: RunDir) =>
      readFileSync(d.file('metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => {
          const { trainSeconds: _t, evalSeconds: _e, testEvalSeconds: _x, ...rest } = JSON.parse(l);
          return rest;
        });
    assert.deepEqual(strip(part), strip(full));
    const a = readCheckpoint(full.file('last.ckpt'));
    const b = readCheckpoint(part.file('last.ckpt'));
    assert.equal(b.store.step, a.store.step);
    assert.deepEqual(b.store.tables, a.store.tables, 'parameters and optimizer state are identical');
    const resA = JSON.parse(readFileSync(full.file('result.json'), 'utf8'));
    const resB = JSON.parse(readFileSync(join(part.path, 'result.json'), 'utf8'));
    assert.deepEqual(resB.test, resA.test);
  } finally {
    await ev.close();
  }
});
