/**
 * `camrec train --distributed local:W:S`: S parameter-server shards, a coordinator and W workers as child processes
 * of this one, on loopback (docs/distributed.md). It waits for the coordinator, forwards its result line, and ends
 * every child it started — on success, on error, and when it is itself interrupted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { TrainConfig } from '../config/index.js';
import { ConfigError } from '../errors/index.js';
import { spawnShard } from '../paramserver/index.js';

export interface LocalCluster {
  readonly workers: number;
  readonly shards: number;
}

/** `local:W:S` → W workers and S shards. */
export function parseDistributed(v: string): LocalCluster {
  const m = /^local:(\d+):(\d+)$/.exec(v);
  if (!m) throw new ConfigError(`flag --distributed: '${v}' is not local:W:S (W workers, S parameter-server shards)`);
  const [workers, shards] = [Number(m[1]), Number(m[2])];
  if (workers < 1 || shards < 1) throw new ConfigError(`flag --distributed: '${v}' needs at least one worker and one shard`);
  return { workers, shards };
}

/**
 * What distributed training does not take (yet): bench mode; --resume needs --out. A coordinator runs one job, so it
 * also refuses several seeds and a grid (`oneJob`); `camrec train --distributed` runs them one job after another.
 */
export function checkDistributable(cfg: Readonly<TrainConfig>, where: string, oneJob = false): void {
  const refuse = (flag: string, why = 'is not supported in distributed training yet') => {
    throw new ConfigError(`${where}: ${flag} ${why} (docs/distributed.md)`);
  };
  if (oneJob && cfg.seeds) refuse('--seeds', 'needs camrec train --distributed: a coordinator runs one job');
  if (oneJob && cfg.grid) refuse('--grid', 'needs camrec train --distributed: a coordinator runs one job');
  if (cfg.resume && !cfg.out) throw new ConfigError(`${where}: --resume needs --out <dir>: the run directory to continue`);
  if (cfg.benchEpochs) refuse('--bench-epochs');
}

export interface LocalRunOptions {
  readonly cluster: LocalCluster;
  /** The resolved train config; `out` is the run directory. */
  readonly cfg: Readonly<TrainConfig> & { out: string };
  /** Coordinator flags (e.g. ['--tasks-per-step', '4', '--nats', url]). */
  readonly coordinatorFlags: readonly string[];
  /** Flags for every worker beyond threads, native and log level (e.g. ['--neighbourhood', 'blocks']). */
  readonly workerFlags?: readonly string[];
  /** How to run camrec: the program and its leading arguments. Default: this process's own command. */
  readonly camrec?: readonly string[];
  readonly log: Logger;
}

const STOP_GRACE_MS = 3000;
/** How long the coordinator may outlive its last worker before the job counts as orphaned. */
const ORPHAN_GRACE_MS = 30_000;

/** This process's own command line up to its arguments, so that children run the same build. */
export function selfCommand(): string[] {
  return [process.execPath, ...process.execArgv, process.argv[1]];
}

/**
 * Compute threads per local worker: `--threads` is the whole run's budget on this one machine, shared by its W
 * workers (at least one each), as torchrun and DistDGL's launcher share a node's cores among its trainers; 1 when
 * `--threads` is not given. Each worker given all of them ran 2·W threads on 2 cores at local:2:S and was slower.
 */
export function localWorkerThreads(threads: number | undefined, workers: number): number {
  return threads === undefined ? 1 : Math.max(1, Math.floor(threads / workers));
}

/** Runs the job; resolves with the coordinator's exit code (its result is in the run directory). */
export async function runLocalCluster(o: LocalRunOptions): Promise<number> {
  const camrec = o.camrec ?? selfCommand();
  const log = o.log.child({ component: 'local-cluster' });
  const children: ChildProcess[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'camrec-local-'));
  const onSignal = (signal: NodeJS.Signals) => {
    log.warn({ signal }, 'interrupted: stopping every child');
    void stopAll(children).then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const level = o.cfg.json && o.cfg.logLevel === 'info' ? 'warn' : o.cfg.logLevel;
    const shardFlags = ['--log-level', level === 'info' ? 'warn' : level];
    const shards = await Promise.all(
      Array.from({ length: o.cluster.shards }, (_, shard) => spawnShard({ camrec, shard, shards: o.cluster.shards, flags: shardFlags })),
    );
    children.push(...shards.map((s) => s.proc));
    log.info({ shards: shards.map((s) => s.address) }, 'shards listening');

    const configFile = join(tmp, 'job.json');
    writeFileSync(configFile, JSON.stringify(o.cfg));
    const coordinator = spawn(
      camrec[0],
      [...camrec.slice(1), 'coordinator', '--config', configFile, '--shards', shards.map((s) => s.address).join(','), '--port', '0', ...o.coordinatorFlags],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(coordinator);
    const exited = exitOf(coordinator);
    const first = await Promise.race([firstLine(coordinator), exited.then(() => null)]);
    if (!first) return (await exited) || 1;
    const { port } = JSON.parse(first) as { port: number };
    log.info({ port }, 'coordinator listening');

    const threads = localWorkerThreads(o.cfg.threads, o.cluster.workers);
    log.info({ threads, workers: o.cluster.workers, asked: o.cfg.threads ?? null }, 'threads per worker');
    const workerFlags = ['--threads', String(threads), '--log-level', level, ...(o.cfg.native ? [] : ['--no-native']), ...(o.workerFlags ?? [])];
    const workers = Array.from({ length: o.cluster.workers }, (_, k) =>
      spawn(camrec[0], [...camrec.slice(1), 'worker', '--coordinator', `127.0.0.1:${port}`, '--id', `local-${k}`, ...workerFlags], {
        stdio: ['ignore', 'ignore', 'inherit'],
      }),
    );
    children.push(...workers);
    log.info({ pids: children.map((c) => c.pid) }, 'children started');
    // Workers exit as soon as they are told the job is over, usually just before the coordinator does.
    const allWorkersGone = Promise.all(workers.map(exitOf)).then(() => new Promise<null>((r) => setTimeout(() => r(null), ORPHAN_GRACE_MS).unref()));
    const code = await Promise.race([exited, allWorkersGone]);
    if (code === null) {
      log.error('every worker exited and the job did not finish');
      coordinator.kill('SIGTERM');
      await exited;
      return 1;
    }
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll(children);
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** SIGTERM to every child still running, SIGKILL to those still there after a grace period. */
async function stopAll(children: readonly ChildProcess[]): Promise<void> {
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of running) c.kill('SIGTERM');
  await Promise.race([Promise.all(running.map(exitOf)), new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref())]);
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(running.map(exitOf));
}

/** Resolves with the exit code (1 when killed by a signal). */
function exitOf(c: ChildProcess): Promise<number> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve(c.exitCode ?? 1);
  return new Promise((resolve) => c.once('exit', (code) => resolve(code ?? 1)));
}

/** The child's first stdout line (the rest is not read). */
function firstLine(c: ChildProcess): Promise<string> {
  let buf = '';
  return new Promise((resolve) => {
    const onData = (s: string) => {
      buf += s;
      const at = buf.indexOf('\n');
      if (at < 0) return;
      c.stdout!.off('data', onData);
      c.stdout!.resume();
      resolve(buf.slice(0, at));
    };
    c.stdout!.setEncoding('utf8').on('data', onData);
  });
}
