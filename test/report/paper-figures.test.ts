import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PAPER_FIGURES, paperFigures, paperVariant } from '../../src/report/paper-figures.js';

const PAPER = new URL('../../../shared/papers/camrec.txt', import.meta.url).pathname;

/** The numbers of the paper's table line that starts (after tabs) with `label`, <u> marks removed. */
function tableNumbers(text: string, label: string): number[] {
  const line = text.split('\n').find((l) => l.replace(/^[^\t]*\t/, '').startsWith(`${label}\t`) || l.startsWith(`${label}\t`));
  assert.ok(line, `a table line for ${label}`);
  return [...line.replace(/<\/?u>/g, '').matchAll(/\b0\.\d{3,4}\b/g)].map((m) => Number(m[0]));
}

test('the figures are the paper\'s tables as printed (../shared/papers/camrec.txt)', () => {
  const text = readFileSync(PAPER, 'utf8');
  const printed: Record<string, string> = { bpr: 'BPR [12]', lightgcn: 'LightGCN [5]', vbpr: 'VBPR [2]', freedom: 'FREEDOM [22]', camrec: 'Ours' };
  const order = ['recall@10', 'recall@20', 'ndcg@10', 'ndcg@20'];
  for (const [model, label] of Object.entries(printed)) {
    const want = tableNumbers(text, label);
    assert.equal(want.length, 12, `${label}: 12 figures`);
    const got = ['baby', 'sports', 'clothing'].flatMap((d) => {
      const f = PAPER_FIGURES.find((x) => x.model === model && x.dataset === d && !x.variant);
      assert.ok(f, `${model} on ${d}`);
      return order.map((k) => f.metrics[k]);
    });
    assert.deepEqual(got, want, model);
  }
  for (const variant of ['w/o Backdoor', 'w/o Frontdoor', 'w/o DCD']) {
    const f = PAPER_FIGURES.find((x) => x.variant === variant);
    assert.deepEqual(order.map((k) => f?.metrics[k]), tableNumbers(text, variant), variant);
  }
});

test('a CaMRec configuration maps to the paper\'s variant; two switches off is none of them', () => {
  assert.equal(paperVariant('camrec', { backdoor: true, frontdoor: true, diffusion: true }), undefined);
  assert.equal(paperVariant('camrec', { backdoor: false }), 'w/o Backdoor');
  assert.equal(paperVariant('camrec', { frontdoor: false }), 'w/o Frontdoor');
  assert.equal(paperVariant('camrec', { diffusion: false }), 'w/o DCD');
  assert.equal(paperVariant('camrec', { backdoor: false, frontdoor: false }), null);
  assert.equal(paperVariant('lightgcn', { backdoor: false }), undefined);
  assert.equal(paperFigures('camrec', 'baby', {})?.metrics['recall@20'], 0.1068);
  assert.equal(paperFigures('camrec', 'Baby', { frontdoor: false })?.metrics['recall@20'], 0.1018);
  assert.equal(paperFigures('camrec', 'sports', { frontdoor: false }), null, 'the ablations are on baby only');
  assert.equal(paperFigures('camrec', 'baby', { backdoor: false, frontdoor: false }), null);
  assert.equal(paperFigures('lightgcn', 'sports', {})?.metrics['recall@20'], 0.0864);
  assert.equal(paperFigures('camrec', 'tiktok', {}), null);
});
