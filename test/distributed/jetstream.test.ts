/**
 * The JetStream task queue end to end (DESIGN.md §5, docs/distributed.md "The JetStream task queue"): a real
 * nats-server with JetStream, shards and workers as child processes, the coordinator's job in the test process. The
 * coordinator puts each step's tasks on the job's work queue; workers take them, claim them, compute, report, and
 * ack. Under bsp the job equals one process with 1 worker + 1 shard and 2 workers + 2 shards; a worker SIGKILLed
 * right after it took a task: JetStream delivers the task again once the ack wait runs out, attempt 2, to the other
 * worker, and every shard applies every task once; a worker that joins mid-job takes tasks from the queue. Through the
 * CLI: `camrec train --distributed local:2:1 --task-queue jetstream` gives one process's losses, and a missing,
 * unreachable or JetStream-less NATS is one clear line.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TrainConfig } from '../../src/config/index.js';
import { taskKey } from '../../src/coordinator/index.js';
import { connectNats } from '../../src/events/index.js';
import { readCheckpoint, type StoreState } from '../../src/train/index.js';
import { camrec } from '../helpers/cli.js';
import { tempDir, writeInter } from '../helpers/files.js';
import { freePort, natsSkipReason, startNats, type NatsServer } from '../helpers/nats.js';
import { randomDataset } from '../helpers/tiny.js';
import { clusterFixture, jobConfig, startCluster, type Cluster } from './cluster.js';
import { assertCloseState, assertSameLosses, singleProcess } from './one-process.js';

// The data and job of equivalence.test.ts: 1100 users × 2 training items, batches of 220, 2 epochs = 20 steps of
// 4 tasks; tables over 1024 rows are row-sharded.
const STEPS = 20;
const TASKS = 4;
const cfg: Partial<TrainConfig> = { model: 'lightgcn', batch: 220, epochs: 2, lr: 0.01, seed: 7, hyper: { dim: 16, reg: 0.01 } };
/** The ack wait: a dead worker's task comes back after this; live workers renew it every quarter. */
const LEASE_MS = 4000;
const skip = natsSkipReason();
const { clusters, dataDir } = clusterFixture('js-data', () => randomDataset(1100, 1050, 4, 3));

let nats: NatsServer | undefined;
before(async () => {
  if (!skip) nats = await startNats({ jetstream: true });
});
after(async () => {
  await nats?.close();
});

let reference: Promise<{ losses: number[]; state: StoreState }> | null = null;
const referenceRun = () => (reference ??= singleProcess(jobConfig({ dataDir: dataDir(), out: tempDir('js-ref'), shards: 1, workers: 1, cfg })));

/** The job's losses, parameters and Adam moments are one process's; every shard applied each task of each step once. */
async function assertEqualsOneProcess(c: Cluster, out: string): Promise<string> {
  const ref = await referenceRun();
  assertSameLosses(c.steps.map((s) => s.loss), ref.losses);
  assert.deepEqual(c.steps.map((s) => s.psStep), Array.from({ length: STEPS }, (_, k) => k + 1), 'each step committed once, in order');
  assert.ok(c.steps.every((s) => s.tasks.length === TASKS), 'every step has its 4 tasks');
  const { worst, rel } = assertCloseState(readCheckpoint(`${out}/last.ckpt`).store, ref.state);
  assert.ok(worst <= 1e-4, `largest element difference ${worst}`);
  const stats = await c.store.stats();
  for (const s of stats) {
    assert.equal(s.commits, STEPS, `shard ${s.shard} committed every step`);
    assert.equal(s.tasksApplied, STEPS * TASKS, `shard ${s.shard} applied each task once`);
  }
  const lossDiff = Math.max(...c.steps.map((s, k) => Math.abs(s.loss - ref.losses[k]) / Math.abs(ref.losses[k])));
  return `largest relative step-loss difference ${lossDiff.toExponential(2)}; state: relative L2 ≤ ${rel.toExponential(2)}, largest element ${worst.toExponential(2)}`;
}

for (const [workers, shards] of [
  [1, 1],
  [2, 2],
] as const) {
  test(`--task-queue jetstream, ${workers} worker(s) + ${shards} shard(s), bsp: 20 LightGCN steps equal one process`, { skip }, async (t) => {
    const out = tempDir('js-run');
    const c = await startCluster({ dataDir: dataDir(), out, shards, workers, cfg, nats: nats!.url, leaseMs: LEASE_MS });
    clusters.push(c);
    const result = await c.run();
    assert.equal(result.epochsRun, 2);
    t.diagnostic(await assertEqualsOneProcess(c, out));
    const by = new Set(c.steps.flatMap((s) => s.tasks.map((k) => k.worker)));
    assert.equal(by.size, workers, `tasks done by ${[...by].join(', ')}`);
  });
}

test('a worker SIGKILLed right after it took a task: JetStream delivers the task again (attempt 2) to the other worker, and each shard applies it once', { skip }, async (t) => {
  const out = tempDir('js-kill');
  const leases: { worker: string; key: string; attempt: number }[] = [];
  let killed: { worker: string; key: string } | null = null;
  const c = await startCluster({
    dataDir: dataDir(),
    out,
    shards: 2,
    workers: 2,
    cfg,
    nats: nats!.url,
    leaseMs: LEASE_MS,
    workerTimeoutMs: 1500,
    // A lease under the queue is the coordinator answering a worker's claim of a task it took: in epoch 1, step 3,
    // the first worker to claim one dies holding it, unacked.
    onLease: (l, cl) => {
      const key = taskKey(l.task);
      leases.push({ worker: l.worker, key, attempt: l.attempt });
      if (killed || l.task.epoch !== 1 || l.task.step !== 3) return;
      killed = { worker: l.worker, key };
      cl.workers.get(l.worker)!.kill('SIGKILL');
    },
  });
  clusters.push(c);
  const result = await c.run();
  assert.equal(result.epochsRun, 2);
  const dead = killed as { worker: string; key: string } | null;
  assert.ok(dead, 'a worker was killed');
  const again = leases.filter((l) => l.key === dead.key);
  assert.deepEqual(again.map((l) => l.attempt), [1, 2], `the task went out twice: ${JSON.stringify(again)}`);
  assert.notEqual(again[1].worker, dead.worker, 'the second time to the other worker');
  const step = c.steps.find((s) => s.epoch === 1 && s.step === 3)!;
  const index = Number(dead.key.split('.')[2]);
  assert.deepEqual(step.tasks.find((k) => k.index === index), { index, attempt: 2, worker: again[1].worker }, 'step 3 committed its attempt 2');
  assert.ok(c.steps.slice(4).every((s) => s.tasks.every((k) => k.worker !== dead.worker)), 'the dead worker did nothing after');
  assert.equal(leases.filter((l) => l.attempt > 1).length, 1, 'no other task was delivered twice');
  t.diagnostic(await assertEqualsOneProcess(c, out));
});

test('a worker that joins mid-job takes tasks from the queue and finishes the job the first one left (SIGTERM); one with --task-queue policy is refused', { skip }, async (t) => {
  const out = tempDir('js-elastic');
  let late: Promise<number> | null = null;
  let firstLate: string | null = null;
  const c = await startCluster({
    dataDir: dataDir(),
    out,
    shards: 2,
    workers: 1,
    cfg,
    nats: nats!.url,
    leaseMs: LEASE_MS,
    // When w0 claims a task of epoch 1, step 2, a second worker starts and w0 is told to stop (it finishes that task
    // or hands it back, and leaves): from there on only the newcomer, once it has joined, can take the tasks.
    onLease: (l, cl) => {
      if (!late && l.task.epoch === 1 && l.task.step === 2) {
        late = exitOf(cl.addWorker('late', ['--task-queue', 'jetstream', '--nats', nats!.url]));
        cl.workers.get('w0')!.kill('SIGTERM');
      }
      if (l.worker === 'late') firstLate ??= taskKey(l.task);
    },
  });
  clusters.push(c);
  const run = c.run();
  const refused = await camrec(['worker', '--coordinator', `127.0.0.1:${c.port}`, '--task-queue', 'policy', '--id', 'wrong', '--no-native']);
  const result = await run;
  assert.equal(result.epochsRun, 2);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /--task-queue policy, but the coordinator at 127\.0\.0\.1:\d+ runs --task-queue jetstream/);
  assert.equal(refused.stderr.trim().split('\n').length, 1, `one line: ${refused.stderr}`);

  assert.ok(firstLate, 'the newcomer claimed a task');
  assert.equal(await exitOf(c.workers.get('w0')!), 0, 'w0 left cleanly on SIGTERM');
  assert.equal(await late, 0, 'the newcomer exited 0 when the job finished');
  assert.ok(c.steps.slice(0, 2).every((s) => s.tasks.every((k) => k.worker === 'w0')), 'steps 0 and 1 were w0\'s');
  assert.ok(c.steps.slice(3).every((s) => s.tasks.every((k) => k.worker === 'late')), 'every step after 2 was the newcomer\'s');
  const step2 = c.steps[2].tasks.map((k) => `${k.index}#${k.attempt}@${k.worker}`);
  t.diagnostic(`step 2: ${step2.join(' ')}; the newcomer's first task ${firstLate}; ${await assertEqualsOneProcess(c, out)}`);
});

/** Resolves with the process's exit code (1 when a signal ended it). */
function exitOf(p: ChildProcess): Promise<number> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode ?? 1);
  return new Promise((r) => p.once('exit', (code) => r(code ?? 1)));
}

test('camrec train --distributed local:2:1 --task-queue jetstream: the epochs\' losses of one process; the job\'s queue is gone afterwards', { skip }, async () => {
  const dir = writeInter(tempDir('js-cli-data'), randomDataset(80, 90, 6, 2));
  const common = ['--model', 'lightgcn', '--epochs', '2', '--batch', '64', '--dim', '8', '--seed', '3', '--backend', 'wasm', '--threads', '1', '--no-native', '--data', dir];
  const [single, dist] = [join(tempDir('js-cli-single'), 'run'), join(tempDir('js-cli-dist'), 'run')];
  const distributed = ['--distributed', 'local:2:1', '--task-queue', 'jetstream', '--nats', nats!.url];
  const [one, two] = await Promise.all([camrec(['train', ...common, '--out', single]), camrec(['train', ...common, '--out', dist, ...distributed])]);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(two.code, 0, two.stderr);
  const lines = (d: string) => readFileSync(join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number });
  const [ls, ld] = [lines(single), lines(dist)];
  assert.equal(ld.length, ls.length);
  ls.forEach((l, k) => assert.ok(Math.abs(ld[k].loss - l.loss) <= 1e-5 * l.loss, `epoch ${k + 1}: ${ld[k].loss} vs ${l.loss}`));
  const result = JSON.parse(readFileSync(join(dist, 'result.json'), 'utf8')) as { provenance: { distributed: Record<string, unknown> } };
  assert.equal(result.provenance.distributed.taskQueue, 'jetstream');
  const taking = two.stderr.split('\n').filter((l) => l.includes('"taking tasks from the JetStream queue"')).map((l) => JSON.parse(l) as { worker: string; nats: string });
  assert.deepEqual(taking.map((l) => [l.worker, l.nats]).sort(), [['local-0', nats!.url], ['local-1', nats!.url]], 'both workers took their tasks from the queue on the coordinator\'s server');
  const nc = await connectNats({ servers: nats!.url });
  try {
    const jsm = await nc.jetstreamManager();
    const left = (await jsm.streams.names().next()).filter((n) => n.startsWith('CAMREC_TASKS_lightgcn-'));
    assert.deepEqual(left, [], 'the coordinator deleted its task queue');
  } finally {
    await nc.close();
  }
});

test('--task-queue jetstream without --nats, without --distributed, or with a bad kind exits 2; an unreachable server exits 3 and one without JetStream 2, each naming it in one line', { skip: natsSkipReason({ control: true }) }, async () => {
  const data = writeInter(tempDir('js-cli-bad'), randomDataset(20, 20, 3, 1));
  const train = ['train', '--model', 'bpr', '--data', data, '--epochs', '1', '--backend', 'wasm', '--no-native'];
  const coordinator = ['coordinator', '--model', 'bpr', '--data', data, '--shards', '127.0.0.1:1', '--backend', 'wasm', '--no-native', '--port', '0'];
  const closed = `nats://127.0.0.1:${await freePort()}`;
  const core = await startNats({ jetstream: false, control: true });
  const runs = await Promise.all([
    camrec([...train, '--distributed', 'local:1:1', '--task-queue', 'jetstream']),
    camrec([...train, '--task-queue', 'jetstream']),
    camrec([...coordinator, '--task-queue', 'kafka']),
    camrec([...coordinator, '--task-queue', 'jetstream', '--nats', closed]),
    camrec([...coordinator, '--task-queue', 'jetstream', '--nats', core.url]),
  ]).finally(() => core.close());
  const want: [number, RegExp][] = [
    [2, /^camrec: flag --task-queue jetstream needs --nats <url>/],
    [2, /^camrec: flag --task-queue needs --distributed local:W:S/],
    [2, /^camrec: flag --task-queue: 'kafka' is not policy or jetstream/],
    [3, new RegExp(`^camrec: cannot reach NATS at ${closed}`)],
    [2, new RegExp(`^camrec: the task queue needs JetStream, and the NATS server at ${core.url} has none`)],
  ];
  runs.forEach((r, k) => {
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('camrec:'));
    assert.equal(r.code, want[k][0], r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], want[k][1]);
  });
});
