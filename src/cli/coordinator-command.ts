/**
 * `camrec coordinator --shards a,b,... [--port P] [--tasks-per-step T] [--consistency bsp|ssp:s|async] [--nats URL]
 * [--task-queue policy|jetstream] [--resume] [--eval-on-coordinator] <train flags>`: runs one
 * training job over parameter-server shards and the workers that join (docs/distributed.md). It initialises the
 * shards' tables, serves the worker protocol (with `--task-queue jetstream` it puts each step's tasks on the job's
 * JetStream work queue, from which the workers take them), commits each bsp step on every shard, has the workers evaluate ranges
 * of users (or evaluates from the shards' tables itself) and writes the same run directory as `camrec train`. It prints one JSON line on stdout once it listens
 * ({"port", "out", "job"}), and with --json the result line at the end.
 */
import { availableParallelism, hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { TrainConfig } from '../config/index.js';
import { configureCompute, initBackend, allocatorTuning, heapGrowth, nativeKernels } from '../compute/index.js';
import {
  CoordinatorJob,
  CoordinatorServer,
  formatConsistency,
  JetStreamTaskQueue,
  parseConsistency,
  readResumePoint,
  shardConsistency,
  type Consistency,
} from '../coordinator/index.js';
import { loadDataset } from '../data/index.js';
import { CamrecError, ConfigError } from '../errors/index.js';
import { connectNats, InMemoryEventBus, NatsEventBus, type EventBus } from '../events/index.js';
import { CoordinatorMetrics, meteredBus } from '../metrics/index.js';
import { models } from '../models/index.js';
import { parseWire, RemoteParamStore, type WireEncoding } from '../paramserver/index.js';
import { adagrad, adam, RunDir, type SeedResult } from '../train/index.js';
import { openEvaluator } from './evaluator.js';
import { checkTaskQueue, type TaskQueueKind } from './flags.js';
import { makeLogger } from './log.js';
import { checkDistributable } from './local-cluster.js';
import { Ops, splitOpsFlags } from './ops.js';
import { checkOpenListener, listenAddress } from './paramserver-command.js';
import { checkHyper, loadTrainConfig, runDirPath, runProvenance } from './train-command.js';

/** The coordinator's own flags; everything else is a train flag. */
export interface CoordinatorFlags {
  shards?: string;
  host?: string;
  port?: number;
  listen?: string;
  insecure?: boolean;
  tokenFile?: string;
  job?: string;
  nats?: string;
  taskQueue?: TaskQueueKind;
  tasksPerStep?: number;
  consistency?: string;
  leaseMs?: number;
  maxAttempts?: number;
  workerTimeoutMs?: number;
  minWorkers?: number;
  gatherTimeoutMs?: number;
  heartbeatMs?: number;
  evalOnCoordinator?: boolean;
  wire?: string;
}

const OWN_FLAGS = [
  'shards', 'host', 'port', 'listen', 'insecure', 'tokenFile', 'job', 'nats', 'taskQueue', 'tasksPerStep', 'consistency', 'leaseMs', 'maxAttempts', 'workerTimeoutMs',
  'minWorkers', 'gatherTimeoutMs', 'heartbeatMs', 'evalOnCoordinator', 'wire',
] as const;

/** Splits the coordinator's flags from the train flags. */
export function splitCoordinatorFlags(opts: Record<string, unknown>): { own: CoordinatorFlags; train: Record<string, unknown> } {
  const own: Record<string, unknown> = {};
  const train: Record<string, unknown> = { ...opts };
  for (const k of OWN_FLAGS) {
    if (train[k] !== undefined) own[k] = train[k];
    delete train[k];
  }
  return { own: own as CoordinatorFlags, train };
}

/** `host:port,host:port` → addresses. */
export function parseAddresses(flag: string, v: string | undefined): string[] {
  if (!v) throw new ConfigError(`flag ${flag} is required: host:port of every shard, comma-separated`);
  const list = v.split(',').map((s) => s.trim());
  for (const a of list) if (!/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(a)) throw new ConfigError(`flag ${flag}: '${a}' is not host:port`);
  return list;
}

function positive(flag: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!(Number.isInteger(x) && x >= 1)) throw new ConfigError(`flag ${flag}: ${x} is not a positive integer`);
  return x;
}

export async function coordinatorCommand(opts: Record<string, unknown>): Promise<number> {
  const { ops: opsFlags, rest } = splitOpsFlags(opts);
  const { own, train } = splitCoordinatorFlags(rest);
  const cfg = loadTrainConfig(train);
  checkDistributable(cfg, 'camrec coordinator', true);
  const shards = parseAddresses('--shards', own.shards);
  const { host, port } = listenAddress(own, 50050);
  const token = own.tokenFile ? readFileSync(own.tokenFile, 'utf8').trim() : process.env.CAMREC_TOKEN || undefined;
  const ops = new Ops(opsFlags, 'coordinator', ['shards connected', 'gRPC listening']);
  checkOpenListener(host, token, own.insecure, 'CAMREC_TOKEN', ops.mutualTls);
  const job = own.job ?? `${cfg.model}-${Date.now().toString(36)}`;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(job)) throw new ConfigError(`flag --job: '${job}' is not 1-64 of [A-Za-z0-9_-]`);
  const consistency = parseConsistency(own.consistency ?? 'bsp');
  const taskQueue = checkTaskQueue(own.taskQueue, own.nats);
  const wire = parseWire(own.wire, 'flag --wire');
  const settings = {
    tasksPerStep: positive('--tasks-per-step', own.tasksPerStep, 4),
    // A JetStream lease is what a dead worker's task waits before it is delivered again; live workers renew it.
    leaseMs: positive('--lease-ms', own.leaseMs, taskQueue === 'jetstream' ? 30_000 : 120_000),
    maxAttempts: positive('--max-attempts', own.maxAttempts, 5),
    workerTimeoutMs: positive('--worker-timeout-ms', own.workerTimeoutMs, 30_000),
    minWorkers: positive('--min-workers', own.minWorkers, 1),
    gatherMs: positive('--gather-timeout-ms', own.gatherTimeoutMs, 300_000),
    heartbeatMs: positive('--heartbeat-ms', own.heartbeatMs, 1000),
  };

  const log = makeLogger(cfg.json && cfg.logLevel === 'info' ? 'warn' : cfg.logLevel);
  const metrics = new CoordinatorMetrics(ops.registry, formatConsistency(consistency));
  await ops.listen(log);
  try {
    return await coordinate({ cfg, own, shards, host, port, token, job, consistency, taskQueue, wire, settings, ops, metrics, log });
  } finally {
    await ops.close();
  }
}

/** What the coordinator runs with, once its flags are checked. */
interface Coordinate {
  cfg: Readonly<TrainConfig>;
  own: CoordinatorFlags;
  shards: string[];
  host: string;
  port: number;
  token: string | undefined;
  job: string;
  consistency: Consistency;
  taskQueue: TaskQueueKind;
  wire: WireEncoding;
  settings: { tasksPerStep: number; leaseMs: number; maxAttempts: number; workerTimeoutMs: number; minWorkers: number; gatherMs: number; heartbeatMs: number };
  ops: Ops;
  metrics: CoordinatorMetrics;
  log: Logger;
}

/** The NATS connection behind `--nats`: job events, and with `--task-queue jetstream` the job's task queue. */
interface Nats {
  readonly bus: EventBus;
  readonly queue: JetStreamTaskQueue | undefined;
  /** Deletes the task queue (the job is over) and closes the connection. */
  close(): Promise<void>;
}

/**
 * Connects to `--nats` before anything else is loaded, so that a server that cannot be reached (PeerUnavailable) or
 * has no JetStream for the task queue (ConfigError) ends the command at once, naming it. The queue is opened fresh:
 * tasks an earlier coordinator of this job left there are dropped.
 */
async function openNats(url: string, job: string, taskQueue: TaskQueueKind, leaseMs: number, log: Logger): Promise<Nats> {
  const nc = await connectNats({ servers: url, name: `coordinator-${job}`, log });
  try {
    const queue = taskQueue === 'jetstream' ? await JetStreamTaskQueue.open(nc, { job, leaseMs, server: url, fresh: true, log }) : undefined;
    const bus = await NatsEventBus.over(nc, { log });
    log.info({ nats: url, taskQueue }, 'NATS connected');
    return {
      bus,
      queue,
      close: async () => {
        await queue?.delete().catch((err: unknown) => log.warn({ err }, 'task queue not deleted'));
        if (!nc.isClosed()) await nc.drain();
      },
    };
  } catch (err) {
    await nc.close();
    throw err;
  }
}

async function coordinate(c: Coordinate): Promise<number> {
  const nats = c.own.nats ? await openNats(c.own.nats, c.job, c.taskQueue, c.settings.leaseMs, c.log) : null;
  try {
    return await runJob(c, nats);
  } finally {
    await nats?.close();
  }
}

async function runJob({ cfg, own, shards, host, port, token, job, consistency, taskQueue, wire, settings, ops, metrics, log }: Coordinate, nats: Nats | null): Promise<number> {
  const model = models.get(cfg.model);
  checkHyper(model, cfg.hyper);
  const threads = cfg.threads ?? availableParallelism();
  await configureCompute({ threads, native: cfg.native && process.env.CAMREC_NATIVE !== '0' });
  const backend = { ...(await initBackend(cfg.backend)), native: nativeKernels()?.isa() ?? null, allocator: allocatorTuning(), heapGrowingPercent: heapGrowth() };
  const data = await loadDataset(cfg.data);
  const outDir = runDirPath(cfg);
  const dir = new RunDir(outDir);
  const resumeFrom = cfg.resume ? readResumePoint({ dir, cfg, data, model, consistency }) : null;
  if (cfg.resume && !resumeFrom) log.warn({ dir: dir.path }, 'nothing to resume: no last.ckpt; starting fresh');
  dir.writeJson('config.json', cfg);
  const hyper = model.hyper.parse(cfg.hyper) as Record<string, unknown>;
  const store = await RemoteParamStore.connect({
    addresses: shards,
    specs: model.tables(data, hyper),
    optimizer: cfg.optimizer === 'adam' ? adam(cfg.lr) : adagrad(cfg.lr),
    seed: cfg.seed,
    consistency: shardConsistency(consistency),
    clientId: `coordinator-${hostname()}-${process.pid}`,
    token,
    credentials: ops.channelCredentials(),
  });
  ops.readiness.met('shards connected');
  const closers: (() => Promise<unknown> | void)[] = [() => store.close()];
  try {
    const bus = meteredBus(nats?.bus ?? new InMemoryEventBus(), metrics);
    closers.push(() => bus.close());
    const evaluator = await openEvaluator(cfg, threads);
    closers.push(() => evaluator.close());
    const provenance = {
      ...runProvenance(backend),
      distributed: { shards: shards.length, tasksPerStep: settings.tasksPerStep, consistency: formatConsistency(consistency), wire, events: bus.mode, taskQueue },
    };
    const coordinator = new CoordinatorJob({
      ...settings,
      ...(resumeFrom ? { resumeFrom } : {}),
      job, cfg, data, model, store, shards, dir, evaluator, bus, log, provenance, consistency, wire,
      evalOnCoordinator: own.evalOnCoordinator === true,
      ...(nats?.queue ? { taskQueue: nats.queue, natsUrl: own.nats } : {}),
      onStep: (s) => metrics.stepDone(s),
      onEpoch: (e) => metrics.epochEnded(e),
    });
    closers.push(() => coordinator.close());
    const server = await CoordinatorServer.start({ job: coordinator, host, port, token, log, credentials: ops.serverCredentials(), interceptors: ops.interceptors() });
    ops.readiness.met('gRPC listening');
    closers.push(() => server.shutdown());
    process.stdout.write(`${JSON.stringify({ port: server.port, out: outDir, job })}\n`);
    const stop = (signal: string) => {
      ops.readiness.stopping();
      coordinator.abort(`coordinator stopped by ${signal}`);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    await coordinator.start();
    let result: SeedResult;
    try {
      result = await coordinator.result;
    } catch (err) {
      const cause = (err as Error).cause;
      if (cause instanceof CamrecError) throw cause;
      process.stderr.write(`camrec: job ${job} failed: ${(err as Error).message}\n`);
      return 1;
    } finally {
      await waitFor(() => coordinator.allWorkersTold(), 2 * settings.heartbeatMs + 1000);
    }
    log.info({ out: outDir, test: result.test }, `${cfg.model} (distributed) test at best valid epoch ${result.bestEpoch}`);
    if (cfg.json) process.stdout.write(`${JSON.stringify({ out: outDir, ...result })}\n`);
    return 0;
  } finally {
    for (const close of closers.reverse()) await close();
  }
}

/** Resolves once `done()` holds or after `ms`. */
async function waitFor(done: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!done() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}
