import type { TrainConfig } from '../config/index.js';
import { nativeKernels } from '../compute/index.js';
import { createEvaluator } from '../eval/index.js';
import type { SplitEvaluator } from '../train/index.js';

/** A warm evaluator for a run: the trainer's SplitEvaluator over the eval package's worker pool. */
export async function openEvaluator(
  cfg: Pick<TrainConfig, 'ks'>,
  threads: number,
): Promise<SplitEvaluator & { close(): Promise<void> }> {
  const ev = await createEvaluator({ threads, native: nativeKernels() });
  return {
    evaluate: (input) =>
      ev.evaluate({
        ...input,
        nUsers: input.mask.nRows,
        nItems: input.mask.nCols,
        ks: cfg.ks,
      }),
    close: () => ev.close(),
  };
}
