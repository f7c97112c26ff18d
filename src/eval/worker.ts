/**
 * An evaluation worker: holds one scorer over the current evaluation's shared embeddings and ranks the blocks of
 * users it is sent. It keeps no state between evaluations but the kernel.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { GroupLayout } from './groups.js';
import type { FromWorker, ToWorker, WorkerSetup } from './protocol.js';
import { rankBlock, type RankingData } from './rank.js';
import type { BlockScorer, ScoreKernel } from './scorer.js';
import { JsScorer } from './score-js.js';
import { TopK } from './topk.js';

interface Loaded {
  readonly data: RankingData;
  readonly scorer: BlockScorer;
  readonly topK: TopK;
}

type ScorerFactory = (items: Float32Array, layout: GroupLayout, dim: number) => BlockScorer;

/** The wasm kernel's module loads tfjs, so it is imported only where it is used. */
async function scorerFactory(kernel: ScoreKernel): Promise<ScorerFactory> {
  if (kernel === 'js') return (items, layout, dim) => new JsScorer(items, layout, dim);
  const wasm = await import('./score-wasm.js');
  await wasm.initWasmBackend();
  return (items, layout, dim) => new wasm.WasmScorer(items, layout, dim);
}

function post(port: NonNullable<typeof parentPort>, msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

async function main(port: NonNullable<typeof parentPort>, setup: WorkerSetup): Promise<void> {
  const makeScorer = await scorerFactory(setup.kernel);
  let loaded: Loaded | undefined;
  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'load') {
      loaded?.scorer.dispose();
      const { data } = msg;
      loaded = { data, scorer: makeScorer(data.itemRows, data.layout, data.dim), topK: new TopK(data.k) };
      return;
    }
    if (!loaded) throw new Error('evaluation worker: rank before load');
    const ranked = rankBlock(loaded.scorer, loaded.data, loaded.topK, msg.start, msg.end);
    post(port, { type: 'ranked', run: msg.run, block: msg.block, ranked }, [ranked.buffer as ArrayBuffer]);
  });
  post(port, { type: 'ready' });
}

if (!parentPort) throw new Error('src/eval/worker runs only as a worker thread');
await main(parentPort, workerData as WorkerSetup);
