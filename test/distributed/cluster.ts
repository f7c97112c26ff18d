/**
 * A distributed job on loopback for the tests: shards and workers as real child processes (`camrec paramserver`,
 * `camrec worker`, run from source), the coordinator's job and gRPC server in the test process so that tests see each
 * committed step and lease — and, with `nats`, the job's JetStream task queue on that server, from which the
 * workers take their tasks. `stop()` kills every child; call it in an `after` hook.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { openEvaluator } from '../../src/cli/evaluator.js';
import { initBackend, shutdownCompute } from '../../src/compute/index.js';
import { trainConfig, type TrainConfig } from '../../src/config/index.js';
import {
  CoordinatorJob,
  CoordinatorServer,
  JetStreamTaskQueue,
  shardConsistency,
  type CommittedStep,
  type Consistency,
  type EvalRange,
  type Task,
  type TaskRef,
} from '../../src/coordinator/index.js';
import { loadDataset } from '../../src/data/index.js';
import type { Dataset } from '../../src/data/types.js';
import { connectNats, InMemoryEventBus } from '../../src/events/index.js';
import { models } from '../../src/models/index.js';
import { RemoteParamStore, type WireEncoding } from '../../src/paramserver/index.js';
import { adam, RunDir, type SeedResult } from '../../src/train/index.js';
import { tempDir, writeInter } from '../helpers/files.js';
import { CAMREC_DEV, spawnShard, type ShardProcess } from '../paramserver/children.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const silent = pino({ level: 'silent' });
/** Job ids: one JetStream queue each. */
let jobs = 0;

export interface ClusterOptions {
  readonly dataDir: string;
  readonly out: string;
  readonly shards: number;
  readonly workers: number;
  /** TrainConfig fields (model, batch, epochs, hyper, ...). */
  readonly cfg: Partial<TrainConfig>;
  readonly tasksPerStep?: number;
  readonly consistency?: Consistency;
  readonly leaseMs?: number;
  readonly workerTimeoutMs?: number;
  /**
   * --min-workers: the first epoch waits for this many workers (default `workers`, as `train --distributed` does:
   * on a loaded machine one worker can start seconds after another, and would otherwise find the job half done).
   */
  readonly minWorkers?: number;
  /** --eval-on-coordinator (default: evaluation sharded over the workers when two or more evaluate). */
  readonly evalOnCoordinator?: boolean;
  /** --task-queue jetstream on this NATS server (with JetStream): the workers take their tasks from the job's queue. */
  readonly nats?: string;
  /** --wire: how the workers' row values travel (JobSpec.wire; default f32). */
  readonly wire?: WireEncoding;
  readonly onLease?: (l: { worker: string; task: Task; attempt: number }, cluster: Cluster) => void;
  readonly onRangeLease?: (l: { worker: string; range: EvalRange; attempt: number }, cluster: Cluster) => void;
  /** Each result the coordinator accepts (from the job's task events). */
  readonly onAccept?: (worker: string, task: TaskRef) => void;
  /** More `camrec worker` flags (e.g. ['--neighbourhood', 'blocks']). */
  readonly workerFlags?: readonly string[];
}

export interface Cluster {
  readonly workers: Map<string, ChildProcess>;
  readonly steps: CommittedStep[];
  readonly requeues: number;
  readonly store: RemoteParamStore;
  /** The coordinator's job, in this process. */
  readonly job: CoordinatorJob;
  /** The coordinator's port on 127.0.0.1 (for workers run by the test itself). */
  readonly port: number;
  /** Starts another worker process (`camrec worker --id <id> ...flags`) and adds it to `workers`. */
  addWorker(id: string, flags?: readonly string[]): ChildProcess;
  /** Runs the job to its end. */
  run(): Promise<SeedResult>;
  stop(): Promise<void>;
}

export function jobConfig(o: ClusterOptions): TrainConfig {
  return trainConfig.parse({ data: o.dataDir, backend: 'wasm', threads: 1, native: false, logLevel: 'silent', out: o.out, ...o.cfg });
}

export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const children: ChildProcess[] = [];
  const stopAll = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r)))));
  };
  const shards: ShardProcess[] = await Promise.all(Array.from({ length: o.shards }, (_, s) => spawnShard(s, o.shards)));
  children.push(...shards.map((s) => s.proc));
  const cfg = jobConfig(o);
  const model = models.get(cfg.model);
  const data = await loadDataset(cfg.data);
  const hyper = model.hyper.parse(cfg.hyper) as Record<string, unknown>;
  const addresses = shards.map((s) => s.address);
  const store = await RemoteParamStore.connect({ addresses, specs: model.tables(data, hyper), optimizer: adam(cfg.lr), seed: cfg.seed, clientId: 'test-coordinator', consistency: shardConsistency(o.consistency ?? { mode: 'bsp' }) });
  const evaluator = await openEvaluator(cfg, 1);
  const steps: CommittedStep[] = [];
  const workers = new Map<string, ChildProcess>();
  let requeues = 0;
  const bus = new InMemoryEventBus();
  const jobId = `test${++jobs}`;
  const nc = o.nats ? await connectNats({ servers: o.nats }) : null;
  const taskQueue = nc ? await JetStreamTaskQueue.open(nc, { job: jobId, leaseMs: o.leaseMs ?? 60_000, fresh: true }) : undefined;
  await bus.subscribe(jobId, {
    kinds: ['task'],
    onEvent: (e) => {
      if (e.kind !== 'task') return;
      if (e.data.state === 'requeued') requeues++;
      if (e.data.state === 'accepted') o.onAccept?.(e.data.worker, { epoch: e.data.epoch, step: e.data.step, index: e.data.index });
    },
    onError: () => undefined,
  });
  // eslint-disable-next-line prefer-const
  let cluster: Cluster;
  const job = new CoordinatorJob({
    job: jobId,
    cfg,
    data,
    model,
    store,
    shards: addresses,
    dir: new RunDir(o.out),
    evaluator,
    bus,
    log: silent,
    provenance: {},
    tasksPerStep: o.tasksPerStep ?? 4,
    consistency: o.consistency ?? { mode: 'bsp' },
    leaseMs: o.leaseMs ?? 60_000,
    maxAttempts: 5,
    workerTimeoutMs: o.workerTimeoutMs ?? 30_000,
    minWorkers: o.minWorkers ?? Math.max(1, o.workers),
    evalOnCoordinator: o.evalOnCoordinator ?? false,
    wire: o.wire,
    heartbeatMs: 200,
    ...(taskQueue ? { taskQueue, natsUrl: o.nats } : {}),
    onStep: (s) => steps.push(s),
    onLease: (l) => o.onLease?.(l, cluster),
    onRangeLease: (l) => o.onRangeLease?.(l, cluster),
  });
  const server = await CoordinatorServer.start({ job, log: silent });
  const addWorker = (id: string, flags: readonly string[] = []) => {
    const proc = spawn(CAMREC_DEV[0], [...CAMREC_DEV.slice(1), 'worker', '--coordinator', `127.0.0.1:${server.port}`, '--id', id, '--threads', '1', '--no-native', '--log-level', 'warn', ...flags], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    workers.set(id, proc);
    children.push(proc);
    return proc;
  };
  cluster = {
    workers,
    steps,
    get requeues() {
      return requeues;
    },
    store,
    job,
    port: server.port,
    addWorker,
    async run() {
      await job.start();
      for (let k = 0; k < o.workers; k++) addWorker(`w${k}`, o.workerFlags);
      return job.result;
    },
    async stop() {
      await stopAll();
      await server.shutdown(500);
      job.close();
      store.close();
      await evaluator.close();
      await bus.close();
      await taskQueue?.delete().catch(() => undefined);
      await nc?.close();
    },
  };
  return cluster;
}

/**
 * A test file's cluster fixture: before its tests, the wasm backend and `data` written as an MMRec folder under a
 * temp dir named `label` (or `data.write(root)`, which returns the folder it wrote); after them, every cluster pushed to `clusters` stopped and the backend shut down.
 */
export function clusterFixture(label: string, data: (() => Dataset) | { write: (root: string) => string }): { clusters: Cluster[]; dataDir: () => string } {
  const clusters: Cluster[] = [];
  let dir = '';
  before(async () => {
    await initBackend('wasm');
    dir = typeof data === 'function' ? writeInter(tempDir(label), data()) : data.write(tempDir(label));
  });
  after(async () => {
    for (const c of clusters) await c.stop();
    await shutdownCompute();
  });
  return { clusters, dataDir: () => dir };
}
