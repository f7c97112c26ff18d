/**
 * Baby-sized evaluation benchmark (not a test): 19,445 users × 7,050 items × 64 dims, 3–9 train items per user
 * masked and 1 ground-truth item each.
 *   node --import tsx test/eval/bench.ts kernels [repeats]   one block in this thread: GFLOP/s, µs/user
 *   node --import tsx test/eval/bench.ts evaluate [repeats] [wasm,js]  full evaluations, kernel × threads
 * Each figure is the best of `repeats` runs (the VM is shared, so the best is the least disturbed one); the CPU
 * time of all threads is reported too, as it depends less on what else runs.
 */
import { createEvaluator, evaluate, TopK, type Evaluator, type ScoreKernel } from '../../src/eval/index.js';
import { groupLayout } from '../../src/eval/groups.js';
import { rankBlock, type RankingData } from '../../src/eval/rank.js';
import type { BlockScorer } from '../../src/eval/scorer.js';
import { JsScorer } from '../../src/eval/score-js.js';
import { WasmScorer, initWasmBackend } from '../../src/eval/score-wasm.js';
import { randomCsr, randomMatrix, randomSplit, rng, type SplitShape } from './fixtures.js';

const BABY: SplitShape = { nUsers: 19_445, nItems: 7_050, dim: 64, trainPerUser: [3, 9], truthPerUser: [1, 1] };
const K = 50;

function best(repeats: number, f: () => number): number {
  return Math.min(...Array.from({ length: repeats }, f));
}

function timeIt(f: () => void): number {
  const t0 = performance.now();
  f();
  return (performance.now() - t0) / 1000;
}

function benchKernels(repeats: number): void {
  const rand = rng(1);
  const items = randomMatrix(rand, BABY.nItems, BABY.dim);
  const layout = groupLayout(BABY.nItems, K);
  const scorers: [string, BlockScorer][] = [
    ['wasm', new WasmScorer(items, layout, BABY.dim)],
    ['js', new JsScorer(items, layout, BABY.dim)],
  ];
  console.log(`layout: ${layout.groups} groups × ${layout.width} items (stride ${layout.stride})`);
  for (const rows of [64, 256, 512]) {
    const users = randomMatrix(rand, rows, BABY.dim);
    const data: RankingData = {
      userRows: users,
      itemRows: items,
      users: Int32Array.from({ length: rows }, (_, i) => i),
      mask: randomCsr(rand, rows, BABY.nItems, () => 6),
      dim: BABY.dim,
      k: K,
      layout,
    };
    for (const [name, scorer] of scorers) {
      const flop = 2 * rows * BABY.nItems * BABY.dim;
      const s = best(repeats, () => timeIt(() => scorer.score(users, rows)));
      const all = best(repeats, () => timeIt(() => rankBlock(scorer, data, new TopK(K), 0, rows)));
      const perUser = (t: number): string => ((t / rows) * 1e6).toFixed(1);
      console.log(
        `block ${rows} users, ${name}: score ${(flop / s / 1e9).toFixed(1)} GFLOP/s (${perUser(s)} µs/user); ` +
          `score + mask + group maxima + top-${K}: ${perUser(all)} µs/user`,
      );
    }
  }
}

async function benchEvaluate(repeats: number, kernels: ScoreKernel[]): Promise<void> {
  const data = randomSplit(7, BABY);
  const configs = kernels.flatMap((kernel) => [1, 2].map((threads) => [kernel, threads] as const));
  for (const [kernel, threads] of configs) {
    const once = await evaluate({ ...data, threads, kernel });
    console.log(`one-shot ${kernel} threads=${threads}: ${once.seconds.toFixed(3)} s including worker start`);
  }
  const evaluators: Evaluator[] = [];
  for (const [kernel, threads] of configs) evaluators.push(await createEvaluator({ kernel, threads }));
  const times = evaluators.map(() => [] as number[]);
  const cpu = evaluators.map(() => [] as number[]);
  let users = 0;
  for (let r = 0; r < repeats; r++) {
    for (const [i, ev] of evaluators.entries()) {
      const c0 = process.cpuUsage();
      const res = await ev.evaluate(data);
      const c = process.cpuUsage(c0);
      cpu[i].push((c.user + c.system) / 1e6);
      times[i].push(res.seconds);
      users = res.users;
    }
  }
  await Promise.all(evaluators.map((ev) => ev.close()));
  const flop = 2 * users * BABY.nItems * BABY.dim;
  evaluators.forEach((ev, i) => {
    const t = Math.min(...times[i]);
    console.log(
      `warm ${ev.kernel} threads=${ev.threads}: best ${t.toFixed(3)} s = ${(flop / t / 1e9).toFixed(1)} GFLOP/s end to end ` +
        `(runs: ${times[i].map((x) => x.toFixed(2)).join(' ')}); CPU time, all threads: best ${Math.min(...cpu[i]).toFixed(3)} s`,
    );
  });
}

const [what = 'evaluate', repeatsArg = '5', kernelsArg = 'wasm,js'] = process.argv.slice(2);
if (what === 'kernels') {
  await initWasmBackend();
  benchKernels(Number(repeatsArg));
} else {
  await benchEvaluate(Number(repeatsArg), kernelsArg.split(',') as ScoreKernel[]);
}
