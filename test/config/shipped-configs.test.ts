import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkRunHyper, loadTrainConfig } from '../../src/cli/train-command.js';
import { models } from '../../src/models/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CONFIGS = join(ROOT, 'configs');
const files = readdirSync(CONFIGS).filter((f) => /\.ya?ml$/.test(f));

test('configs/ ships files', () => assert.ok(files.length >= 2, `configs/ has ${files.length} files`));

for (const f of files) {
  test(`configs/${f} validates: the run's fields, the model's hyper-parameters, every grid point, the data folder`, () => {
    const cfg = loadTrainConfig({ config: join(CONFIGS, f) });
    checkRunHyper(models.get(cfg.model), cfg);
    // data paths are written relative to the repository root, where the README runs every command
    assert.ok(existsSync(join(resolve(ROOT, cfg.data), `${cfg.data.split('/').pop()}.inter`)), `${f}: data ${cfg.data} not found`);
  });
}
