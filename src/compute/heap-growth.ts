/**
 * How far V8 lets the JavaScript heap grow between full collections (docs/paramserver.md "Garbage collection").
 * With V8's own growth factor a worker ran a full mark-compact about every second task on baby (40 in an epoch
 * of 58 tasks, 10 ms each, plus their incremental marking), and a single-process CaMRec epoch 76: the processes
 * keep little JavaScript alive (the tables, messages and tensors live outside V8's heap) but allocate tens of
 * megabytes per step, and every collection reset the limit to a small multiple of the small live heap. A growth
 * factor of 1 + 300/100 cut those to 11 (a worker) and 17 (CaMRec) per epoch, for 25–33 MB more resident memory. Every `camrec` command
 * sets it at start (`--heap-growing-percent`, which V8 reads at each collection, so it applies from the first one
 * on); `CAMREC_HEAP_GROWING_PERCENT` overrides it, and 0 leaves V8's own heuristic.
 */
import { setFlagsFromString } from 'node:v8';
import { ConfigError } from '../errors/index.js';

export const HEAP_GROWING_PERCENT = 300;
export const HEAP_GROWING_ENV = 'CAMREC_HEAP_GROWING_PERCENT';

/** The growth percent to use: the environment's when set (an integer in [0, 1000]), else HEAP_GROWING_PERCENT. */
export function heapGrowingPercent(env: NodeJS.ProcessEnv = process.env): number {
  const given = env[HEAP_GROWING_ENV];
  if (given === undefined || given.trim() === '') return HEAP_GROWING_PERCENT;
  const percent = Number(given);
  if (!Number.isInteger(percent) || percent < 0 || percent > 1000) {
    throw new ConfigError(`${HEAP_GROWING_ENV}: '${given}' is not an integer from 0 to 1000`);
  }
  return percent;
}

let applied = 0;

/** Sets V8's heap growing factor for this process (0: V8's own) and returns the percent set. */
export function tuneHeapGrowth(env: NodeJS.ProcessEnv = process.env): number {
  const percent = heapGrowingPercent(env);
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
  applied = percent;
  return percent;
}

/** What this process's last `tuneHeapGrowth` set (0: V8's own heuristic; a run's provenance records it). */
export function heapGrowth(): number {
  return applied;
}
