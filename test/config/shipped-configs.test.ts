import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadTrainConfig, checkHyper } from '../../src/cli/train-command.js';
import { gridPoints } from '../../src/cli/grid.js';
import { models } from '../../src/models/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CONFIGS = join(ROOT, 'configs');
const files = readdirSync(CONFIGS).filter((f) => /\.ya?ml$/.test(f));

test('configs/ ships files', () => assert.ok(files.length >= 2, `configs/ has ${files.length} files`));

for (const f of files) {
  test(`configs/${f} validates: the run's fields, the model's hyper-parameters, every grid point, the data folder`, () => {
    const cfg = loadTrainConfig({ config: join(CONFIGS, f) });
    const model = models.get(cfg.model);
    checkHyper(model, cfg.hyper);
    for (const p of cfg.grid ? gridPoints(cfg.grid) : []) checkHyper(model, { ...cfg.hyper, ...p.hyper });
    // data paths are written relative to the repository root, where the README runs every command
    assert.ok(existsSync(join(resolve(ROOT, cfg.data), `${cfg.data.split('/').pop()}.inter`)), `${f}: data ${cfg.data} not found`);
  });
}
