/** Small hand-made datasets for tests, built in memory (no files). */
import type { Dataset, Interactions } from '../../src/data/types.js';
import { csrFromCoo, type Csr } from '../../src/graph/index.js';
import { CounterRng } from '../../src/random/index.js';

function byUser(nUsers: number, nItems: number, s: Interactions): Csr {
  // deduplicate (user, item) pairs
  const seen = new Set<number>();
  const us: number[] = [];
  const is: number[] = [];
  for (let k = 0; k < s.users.length; k++) {
    const key = s.users[k] * nItems + s.items[k];
    if (seen.has(key)) continue;
    seen.add(key);
    us.push(s.users[k]);
    is.push(s.items[k]);
  }
  return csrFromCoo(nUsers, nItems, Int32Array.from(us), Int32Array.from(is));
}

/** A random dataset: each user gets `perUser` distinct items; the last two go to valid and test. */
export function randomDataset(nUsers: number, nItems: number, perUser: number, seed = 1): Dataset {
  const rng = new CounterRng(seed);
  const split: Record<'train' | 'valid' | 'test', { u: number[]; i: number[] }> = {
    train: { u: [], i: [] },
    valid: { u: [], i: [] },
    test: { u: [], i: [] },
  };
  for (let u = 0; u < nUsers; u++) {
    const s = rng.stream('simulate', 0, 0, u);
    const items = new Set<number>();
    // popularity-skewed draws so that models have something to learn
    while (items.size < perUser) items.add(Math.floor(nItems * Math.pow(s.nextFloat(), 2)));
    const list = [...items];
    list.forEach((it, k) => {
      const part = k === list.length - 1 ? split.test : k === list.length - 2 ? split.valid : split.train;
      part.u.push(u);
      part.i.push(it);
    });
  }
  const inter = (p: { u: number[]; i: number[] }): Interactions => ({ users: Int32Array.from(p.u), items: Int32Array.from(p.i) });
  const train = inter(split.train);
  const valid = inter(split.valid);
  const test = inter(split.test);
  return {
    name: 'tiny',
    dir: '(memory)',
    nUsers,
    nItems,
    train,
    valid,
    test,
    trainByUser: byUser(nUsers, nItems, train),
    validByUser: byUser(nUsers, nItems, valid),
    testByUser: byUser(nUsers, nItems, test),
    modalities: [],
    checksum: `tiny-${nUsers}-${nItems}-${perUser}-${seed}`,
  };
}
