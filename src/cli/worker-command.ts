/**
 * `camrec worker --coordinator host:port [--shards a,b,...] [--data DIR] [--task-queue policy|jetstream] [--nats URL]
 * [--neighbourhood full|blocks]`: a stateless worker (docs/distributed.md). It takes the job from the coordinator,
 * loads the dataset itself, and runs tasks — leased by the coordinator, or taken from the job's JetStream work
 * queue — until the coordinator says stop;
 * SIGTERM/SIGINT make it finish its current task, leave and exit. With --json it prints its totals on stdout.
 */
import { readFileSync } from 'node:fs';
import type { BackendChoice } from '../compute/index.js';
import type { Neighbourhood } from '../train/index.js';
import { WORKER_JOINED, workerMetrics } from '../metrics/index.js';
import { parseWire } from '../paramserver/index.js';
import { runWorker } from '../worker/index.js';
import { parseAddresses } from './coordinator-command.js';
import type { TaskQueueKind } from './flags.js';
import { makeLogger } from './log.js';
import { Ops, type OpsFlags } from './ops.js';

export interface WorkerFlags extends OpsFlags {
  coordinator: string;
  shards?: string;
  data?: string;
  id?: string;
  tokenFile?: string;
  taskQueue?: TaskQueueKind;
  nats?: string;
  coordinatorWaitMs?: number;
  threads?: number;
  native?: boolean;
  backend?: BackendChoice;
  neighbourhood?: Neighbourhood;
  wire?: string;
  json?: boolean;
  logLevel?: string;
}

export async function workerCommand(f: WorkerFlags): Promise<number> {
  const [coordinator] = parseAddresses('--coordinator', f.coordinator);
  const shards = f.shards ? parseAddresses('--shards', f.shards) : undefined;
  const token = f.tokenFile ? readFileSync(f.tokenFile, 'utf8').trim() : process.env.CAMREC_TOKEN || undefined;
  const ops = new Ops(f, 'worker', [WORKER_JOINED]);
  const log = makeLogger(f.json && (f.logLevel ?? 'info') === 'info' ? 'warn' : (f.logLevel ?? 'info'));
  const stop = new AbortController();
  const onSignal = () => {
    ops.readiness.stopping();
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await ops.listen(log);
  const summary = await runWorker({
    coordinator,
    shards,
    dataDir: f.data,
    id: f.id,
    token,
    taskQueue: f.taskQueue,
    nats: f.nats,
    coordinatorWaitMs: f.coordinatorWaitMs,
    threads: f.threads,
    native: f.native !== false && process.env.CAMREC_NATIVE !== '0',
    backend: f.backend,
    neighbourhood: f.neighbourhood,
    wire: f.wire === undefined ? undefined : parseWire(f.wire, 'flag --wire'),
    signal: stop.signal,
    credentials: ops.channelCredentials(),
    observer: workerMetrics(ops.registry, ops.readiness),
    log,
  }).finally(() => ops.close());
  if (f.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  return 0;
}
