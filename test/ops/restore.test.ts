/**
 * A shard restarted on its checkpoint folder is ready with its tables already there: before any client calls Init,
 * its metrics report it initialised at the checkpoint's step with the checkpoint's table versions; after SIGTERM it
 * flushes and exits 0. (Real `camrec paramserver` processes over loopback.)
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RemoteParamStore } from '../../src/paramserver/index.js';
import { adam } from '../../src/train/index.js';
import { tempDir } from '../helpers/files.js';
import { placement, randomGrads, SPECS } from '../paramserver/helpers.js';
import { httpGet, scrape } from './prom.js';
import { camrecProc, stopAll } from './procs.js';

after(stopAll);

async function shard(ckpt: string) {
  const p = camrecProc(['paramserver', '--shard', '0', '--shards', '1', '--port', '0', '--checkpoint-dir', ckpt, '--metrics-port', '0', '--log-level', 'info']);
  const [line, metrics] = await Promise.all([p.firstLine<{ port: number; restoredStep: number | null }>(), p.loggedPort('metrics serving')]);
  return { p, port: line.port, restoredStep: line.restoredStep, metrics };
}

test('a shard restored from its checkpoint is ready, initialised and at the checkpoint\'s step before any Init', async () => {
  const ckpt = join(tempDir('ops-restore'), 'ckpt');
  const first = await shard(ckpt);
  assert.equal((await scrape(first.metrics)).value('camrec_ps_initialised', { shard: '0' }), 0);
  const store = await RemoteParamStore.connect({ addresses: [`127.0.0.1:${first.port}`], specs: SPECS, optimizer: adam(0.01), seed: 3, placement });
  for (let step = 1; step <= 3; step++) await store.push(randomGrads(step));
  store.close();
  const before = await scrape(first.metrics);
  assert.equal(before.value('camrec_ps_step', { shard: '0' }), 3);
  first.p.proc.kill('SIGTERM');
  assert.equal(await first.p.exited, 0, first.p.stderr());

  const second = await shard(ckpt);
  assert.equal(second.restoredStep, 3);
  assert.equal((await httpGet(second.metrics, '/readyz')).status, 200);
  const after = await scrape(second.metrics);
  assert.equal(after.value('camrec_ps_initialised', { shard: '0' }), 1);
  assert.equal(after.value('camrec_ps_step', { shard: '0' }), 3);
  for (const s of SPECS.filter((t) => t.trainable)) {
    const table = { shard: '0', table: s.name };
    assert.ok(before.value('camrec_ps_table_version', table)! >= 1, `${s.name} was updated`);
    assert.equal(after.value('camrec_ps_table_version', table), before.value('camrec_ps_table_version', table), s.name);
  }
  assert.equal(after.value('camrec_ps_commits_total', { shard: '0' }), 0, 'counters count this process\'s work (a reset for rate())');
  second.p.proc.kill('SIGTERM');
  assert.equal(await second.p.exited, 0);
});
