/**
 * Reads a simulated dataset's ground truth back (docs/simulator.md §3) for the validity measurements: the
 * labels each measurement of §5 needs, checked against the sha256 that ground_truth.json records.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseNpy } from '../data/index.js';
import { DataError } from '../errors/index.js';
import { GROUND_TRUTH_FILE, GROUND_TRUTH_FORMAT, TRUTH_FILES, type GroundTruth } from './write.js';

export interface SimGroundTruth {
  readonly truth: GroundTruth;
  /** z_i [items] — the labels of measurement 1 (NMI). */
  readonly itemEnv: Int32Array;
  /** w_u [users, K], row-major. */
  readonly userEnvWeights: Float32Array;
  /** 1 = injected noise, per train edge in trainByUser order — the labels of measurement 2 (AUC). */
  readonly trainNoise: Int32Array;
  /** ω_i [items]. */
  readonly itemExposure: Float32Array;
}

export async function readGroundTruth(dir: string): Promise<SimGroundTruth> {
  const root = resolve(dir);
  const truth = await readTruthJson(join(root, GROUND_TRUTH_FILE));
  const { users, items, k } = truth.settings;
  const nTrain = truth.statistics.counts.train;
  const read = async <E extends { kind: 'int' | 'float'; shape: number[] }>(name: string, expect: E) =>
    parseNpy(await readVerified(root, truth, name), join(root, name), expect).data;
  return {
    truth,
    itemEnv: await read(TRUTH_FILES.itemEnv, { kind: 'int', shape: [items] }),
    userEnvWeights: await read(TRUTH_FILES.userEnvWeights, { kind: 'float', shape: [users, k] }),
    trainNoise: await read(TRUTH_FILES.trainNoise, { kind: 'int', shape: [nTrain] }),
    itemExposure: await read(TRUTH_FILES.itemExposure, { kind: 'float', shape: [items] }),
  };
}

async function readTruthJson(file: string): Promise<GroundTruth> {
  let truth: GroundTruth;
  try {
    truth = JSON.parse(await readFile(file, 'utf8')) as GroundTruth;
  } catch (err) {
    throw new DataError({ file }, `cannot read the simulator's ground truth (${(err as Error).message})`, { cause: err });
  }
  if (truth?.format !== GROUND_TRUTH_FORMAT) {
    throw new DataError({ file, field: 'format' }, `format is ${JSON.stringify(truth?.format)}, expected '${GROUND_TRUTH_FORMAT}'`);
  }
  return truth;
}

/** The bytes of one ground-truth file, after checking them against the sha256 that ground_truth.json lists. */
async function readVerified(root: string, truth: GroundTruth, name: string): Promise<Buffer> {
  const file = join(root, name);
  const bytes = await readFile(file).catch((err: Error) => {
    throw new DataError({ file }, `cannot read (${err.message})`, { cause: err });
  });
  const want = truth.files[name]?.sha256;
  const got = createHash('sha256').update(bytes).digest('hex');
  if (want !== got) throw new DataError({ file }, `sha256 ${got} does not match ${GROUND_TRUTH_FILE} (${want ?? 'not listed'})`);
  return bytes;
}
