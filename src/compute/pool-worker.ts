/**
 * A compute pool worker: instantiates the row kernels over the shared heap and drains the chunks of each job it
 * is sent. It loads no tfjs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type Job, type JobReport, type WorkerInit, describeError, drainChunks } from './jobs.js';
import { rowKernels } from './kernels/row-kernels.js';

const init = workerData as WorkerInit;
const kernels = rowKernels(init.memory);
const port = parentPort;
if (!port) throw new Error('pool-worker runs only as a worker thread');

port.on('message', (job: Job) => {
  const report = (err: unknown): void => init.errors.postMessage({ id: job.id, error: describeError(err) } satisfies JobReport);
  try {
    drainChunks(kernels, job, report);
  } catch {
    // Already reported on the error port, before the chunk was counted.
  }
  if (job.notify) port.postMessage({ id: job.id } satisfies JobReport);
});
Atomics.store(init.ready, init.index, 1);
