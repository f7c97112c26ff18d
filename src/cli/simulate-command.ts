/** `camrec simulate`: writes a simulated dataset with ground truth (docs/simulator.md). */
import { resolve } from 'node:path';
import { ConfigError } from '../errors/index.js';
import { resolveSettings, simulate, writeSimulation } from '../simulate/index.js';
import { makeLogger } from './log.js';

/** Flags that override a preset's settings, by setting name. */
const SETTING_FLAGS = { users: 'users', items: 'items', k: 'k', noiseRate: 'noiseRate', snr: 'snr' } as const;

export async function simulateCommand(opts: Record<string, unknown>): Promise<number> {
  const preset = typeof opts.preset === 'string' ? opts.preset : 'default';
  const overrides: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(SETTING_FLAGS)) if (opts[flag] !== undefined) overrides[key] = opts[flag];
  const settings = resolveSettings(preset, overrides);
  const seed = checkSeed(opts.seed ?? 1);
  const out = resolve(String(opts.out));
  const json = opts.json === true;
  const log = makeLogger(json && opts.logLevel === undefined ? 'warn' : String(opts.logLevel ?? 'info'));

  const started = performance.now();
  const data = simulate(settings, seed);
  const truth = writeSimulation(out, data, {
    force: opts.force === true,
    preset,
    ...(typeof opts.name === 'string' ? { name: opts.name } : {}),
  });
  const seconds = (performance.now() - started) / 1000;
  const { counts, noiseFraction } = truth.statistics;
  log.info({ out, name: truth.name, seed, preset, ...counts, noiseFraction, seconds }, 'simulated dataset written');
  if (json) {
    process.stdout.write(`${JSON.stringify({ out, name: truth.name, seed, preset, counts, noiseFraction, checksum: truth.checksum, seconds })}\n`);
  }
  return 0;
}

function checkSeed(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new ConfigError(`--seed: must be an integer in [0, 2^32), got ${JSON.stringify(v)}`);
  }
  return v;
}
