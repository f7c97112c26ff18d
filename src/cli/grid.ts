/**
 * Model selection over a small grid of hyper-parameters, on the validation split only (MMRec's
 * `hyper_parameters`; the way the CaMRec authors searched their loss weights): every combination trains with the
 * first seed to early stop, the best validation score wins, and the chosen combination then trains every seed.
 * Test metrics of the combinations are recorded in grid.json for transparency, never used to choose.
 */
import { join } from 'node:path';
import type { TrainConfig } from '../config/index.js';
import { ConfigError } from '../errors/index.js';
import { RunDir, type SeedResult } from '../train/index.js';

export interface GridPoint {
  readonly name: string;
  readonly hyper: Record<string, unknown>;
}

/** The cartesian product of the grid's value lists, in key order then value order, named `k=v,k=v`. */
export function gridPoints(grid: Readonly<Record<string, readonly unknown[]>>): GridPoint[] {
  const keys = Object.keys(grid).sort();
  let points: Record<string, unknown>[] = [{}];
  for (const k of keys) {
    const values = grid[k];
    if (values.length === 0) throw new ConfigError(`grid: '${k}' has no values`);
    points = points.flatMap((p) => values.map((v) => ({ ...p, [k]: v })));
  }
  return points.map((hyper) => ({ name: keys.map((k) => `${k}=${String(hyper[k])}`).join(','), hyper }));
}

export interface GridOutcome {
  readonly selected: GridPoint;
  readonly results: { point: GridPoint; valid: Record<string, number>; test: Record<string, number>; bestEpoch: number }[];
}

/** The point with the best validation score (ties: the earlier point). */
export function selectPoint(results: GridOutcome['results'], metric: string): GridPoint {
  let best: GridOutcome['results'][number] | undefined;
  for (const r of results) {
    const score = r.valid[metric];
    if (score === undefined) throw new Error(`selection metric ${metric} was not computed`);
    if (!best || score > best.valid[metric]) best = r;
  }
  if (!best) throw new Error('empty grid');
  return best.point;
}

/**
 * Trains every grid point with `seed` under `<root>/grid/<point>`, writes `<root>/grid.json`, and returns the
 * selection. `train` runs one seed of one configuration into a run directory.
 */
export async function searchGrid(
  cfg: TrainConfig,
  grid: Readonly<Record<string, readonly unknown[]>>,
  seed: number,
  root: RunDir,
  train: (cfg: TrainConfig, seed: number, dir: RunDir) => Promise<SeedResult>,
): Promise<GridOutcome> {
  const results: GridOutcome['results'] = [];
  for (const point of gridPoints(grid)) {
    const dir = new RunDir(join(root.path, 'grid', point.name));
    const r = await train({ ...cfg, hyper: { ...cfg.hyper, ...point.hyper } }, seed, dir);
    results.push({ point, valid: r.valid, test: r.test, bestEpoch: r.bestEpoch });
  }
  const selected = selectPoint(results, cfg.selectMetric);
  root.writeJson('grid.json', { selectMetric: cfg.selectMetric, seed, selected, results, note: 'selected on valid; test shown, not used' });
  return { selected, results };
}
