import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configHash, readConfigFile, resolveConfig, trainConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors/index.js';

test('flags override the file, hyper merges key by key, the result is frozen', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  const file = join(dir, 'job.yaml');
  writeFileSync(file, 'model: bpr\nlr: 0.01\nhyper:\n  dim: 32\n  reg: 0.5\n');
  const cfg = resolveConfig(trainConfig, [
    { source: file, values: readConfigFile(file) },
    { source: 'flags', values: { lr: 0.002, hyper: { reg: 0.1 } } },
  ]);
  assert.equal(cfg.model, 'bpr');
  assert.equal(cfg.lr, 0.002);
  assert.deepEqual(cfg.hyper, { dim: 32, reg: 0.1 });
  assert.equal(cfg.batch, 2048);
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.hyper));
});

test('a bad field is reported with its path and source; unknown keys are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  const file = join(dir, 'job.json');
  writeFileSync(file, '{"lr": -1}');
  assert.throws(
    () => resolveConfig(trainConfig, [{ source: file, values: readConfigFile(file) }]),
    (e: unknown) => e instanceof ConfigError && e.message.startsWith(`config field 'lr' (from ${file})`),
  );
  assert.throws(() => resolveConfig(trainConfig, [{ source: 'flags', values: { learningRate: 1 } }]), /learningRate/);
  writeFileSync(file, 'a: [1,');
  assert.throws(() => readConfigFile(file), (e: unknown) => e instanceof ConfigError && e.message.startsWith(`${file}: not valid YAML`));
});

test('configHash ignores key order and sees every value', () => {
  assert.equal(configHash({ a: 1, b: { c: 2, d: 3 } }), configHash({ b: { d: 3, c: 2 }, a: 1 }));
  assert.notEqual(configHash({ a: 1 }), configHash({ a: 2 }));
});
