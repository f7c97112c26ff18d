import cliProgress from 'cli-progress';
import type { ProgressSink } from '../train/index.js';

/** A progress bar per epoch on stderr, shown only on a terminal. */
export function terminalProgress(): ProgressSink | undefined {
  if (!process.stderr.isTTY) return undefined;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'epoch {epoch} |{bar}| {value}/{total} batches  loss {loss}  {eta_formatted} left',
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let epoch = 0;
  return {
    epochStart(e, batches) {
      epoch = e;
      bar.start(batches, 0, { epoch, loss: '-' });
    },
    batchDone(loss) {
      bar.increment(1, { epoch, loss: loss.toFixed(4) });
    },
    epochEnd() {
      bar.stop();
    },
  };
}
