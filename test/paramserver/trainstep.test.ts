/**
 * The one trainStep over both stores: LightGCN steps through 2 gRPC shards give the losses and state of one process;
 * a step leaves the arrays its pulls lend it as they were.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { initBackend, shutdownCompute } from '../../src/compute/index.js';
import type { Dataset } from '../../src/data/types.js';
import { models } from '../../src/models/index.js';
import type { Prepared } from '../../src/models/types.js';
import { ParamServer, RemoteParamStore } from '../../src/paramserver/index.js';
import { adam, LocalParamStore, TrainSampler, trainStep, type ParamStore, type RowGrad, type StoreState } from '../../src/train/index.js';
import { randomDataset } from '../helpers/tiny.js';
import { assertSameState } from './helpers.js';

const servers: ParamServer[] = [];

before(async () => {
  await initBackend('wasm');
});

after(async () => {
  for (const s of servers) s.forceClose();
  await shutdownCompute();
});

test('10 LightGCN trainSteps over RemoteParamStore (2 shards, bsp) equal LocalParamStore: losses, tables, optimizer state', async () => {
  const data = randomDataset(60, 80, 6);
  const model = models.get('lightgcn');
  const hyper = model.hyper.parse({ dim: 16 }) as Record<string, unknown>;
  const prepare = model.prepare.bind(model) as (d: Dataset, h: unknown, c: { seed: number }) => Prepared;
  const prep = prepare(data, hyper, { seed: 1 });
  const specs = model.tables(data, hyper);
  servers.push(...(await Promise.all([0, 1].map((shard) => ParamServer.start({ shard, shards: 2, log: pino({ level: 'silent' }) })))));
  const remote = await RemoteParamStore.connect({ addresses: servers.map((s) => `127.0.0.1:${s.port}`), specs, optimizer: adam(0.01), seed: 1, placement: () => 'rows' });
  const local = new LocalParamStore(specs, adam(0.01), 1);
  try {
    const batches = new TrainSampler(data, 1, 16).epoch(1).slice(0, 10);
    assert.equal(batches.length, 10);
    for (const batch of batches) {
      const l = await trainStep(model, batch, local, prep, hyper);
      const r = await trainStep(model, batch, remote, prep, hyper);
      assert.ok(Math.abs(r.loss - l.loss) <= 1e-5 * Math.max(1, Math.abs(l.loss)), `loss ${r.loss} vs ${l.loss}`);
    }
    assertSameState(await remote.exportState(), await local.exportState());
    const stats = await remote.stats();
    assert.ok(stats.every((s) => s.rowsPulled > 0 && s.commits === 10), 'both shards served rows and committed every step');
  } finally {
    remote.close();
    local.dispose();
    prep.release();
  }
});

/** A store that lends the tables it pulls (ParamStore.pull's rule) and checks, at each push, that the step wrote none. */
class LendingStore implements ParamStore {
  readonly lent: { table: string; array: Float32Array; copy: Float32Array }[] = [];
  constructor(private readonly inner: LocalParamStore) {}
  get specs() {
    return this.inner.specs;
  }
  get step() {
    return this.inner.step;
  }
  async pull(table: string, ids: Int32Array | null): Promise<Float32Array> {
    const array = await this.inner.pull(table, ids);
    this.lent.push({ table, array, copy: array.slice() });
    return array;
  }
  async push(grads: readonly RowGrad[]): Promise<void> {
    for (const l of this.lent) assert.deepEqual(l.array, l.copy, `the step wrote into the ${l.table} rows it pulled`);
    this.lent.length = 0;
    await this.inner.push(grads);
  }
  exportState(): Promise<StoreState> {
    return this.inner.exportState();
  }
  importState(state: StoreState): Promise<void> {
    return this.inner.importState(state);
  }
}

for (const name of ['lightgcn', 'bpr']) {
  test(`${name}: a trainStep reads the arrays its pulls lend it and writes none (ParamStore.pull's rule)`, async () => {
    const data = randomDataset(60, 80, 6);
    const model = models.get(name);
    const hyper = model.hyper.parse({ dim: 16 }) as Record<string, unknown>;
    const prepare = model.prepare.bind(model) as (d: Dataset, h: unknown, c: { seed: number }) => Prepared;
    const prep = prepare(data, hyper, { seed: 1 });
    const local = new LocalParamStore(model.tables(data, hyper), adam(0.01), 1);
    const store = new LendingStore(local);
    try {
      for (const batch of new TrainSampler(data, 1, 16).epoch(1).slice(0, 3)) {
        await trainStep(model, batch, store, prep, hyper);
        assert.ok(store.lent.length === 0 && local.step > 0, 'every step pushed, after the check');
      }
    } finally {
      local.dispose();
      prep.release();
    }
  });
}
