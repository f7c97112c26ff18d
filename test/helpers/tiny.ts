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

type Split = Record<'train' | 'valid' | 'test', { u: number[]; i: number[] }>;

/** Each user's items split MMRec-style: the last one goes to test, the one before to valid, the rest to train. */
function splitItems(itemsOf: (u: number) => number[], nUsers: number): Split {
  const split: Split = { train: { u: [], i: [] }, valid: { u: [], i: [] }, test: { u: [], i: [] } };
  for (let u = 0; u < nUsers; u++) {
    const list = itemsOf(u);
    list.forEach((it, k) => {
      const part = k === list.length - 1 ? split.test : k === list.length - 2 ? split.valid : split.train;
      part.u.push(u);
      part.i.push(it);
    });
  }
  return split;
}

function assemble(nUsers: number, nItems: number, split: Split, checksum: string): Dataset {
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
    checksum,
  };
}

/** A random dataset: each user gets `perUser` distinct items; the last two go to valid and test. */
export function randomDataset(nUsers: number, nItems: number, perUser: number, seed = 1): Dataset {
  const rng = new CounterRng(seed);
  const split = splitItems((u) => {
    const s = rng.stream('simulate', 0, 0, u);
    const items = new Set<number>();
    // popularity-skewed draws so that models have something to learn
    while (items.size < perUser) items.add(Math.floor(nItems * Math.pow(s.nextFloat(), 2)));
    return [...items];
  }, nUsers);
  return assemble(nUsers, nItems, split, `tiny-${nUsers}-${nItems}-${perUser}-${seed}`);
}

/**
 * A sparse graph of `communities` disjoint communities: user u and item i belong to community u % C and i % C, and
 * each user gets `perUser` distinct items of its own community, uniformly (the last two go to valid and test). A
 * batch's L-hop neighbourhood is then the communities its users and items are in, however many hops: a small
 * share of the graph when a batch meets few communities. The last `isolatedUsers` users have no item at all, and
 * the last `isolatedItems` items are in no community (no user has them).
 */
export function communityDataset(nUsers: number, nItems: number, communities: number, perUser: number, seed = 1, opts: { isolatedUsers?: number; isolatedItems?: number } = {}): Dataset {
  const rng = new CounterRng(seed);
  const pooled = nItems - (opts.isolatedItems ?? 0);
  const split = splitItems((u) => {
    if (u >= nUsers - (opts.isolatedUsers ?? 0)) return [];
    const c = u % communities;
    const pool = Math.floor((pooled - 1 - c) / communities) + 1; // items c, c + C, … below `pooled`
    if (pool < perUser) throw new RangeError(`community ${c} has ${pool} items, fewer than ${perUser}`);
    const s = rng.stream('simulate', 0, 0, u);
    const items = new Set<number>();
    while (items.size < perUser) items.add(c + communities * Math.floor(pool * s.nextFloat()));
    return [...items];
  }, nUsers);
  const extra = opts.isolatedUsers || opts.isolatedItems ? `-${opts.isolatedUsers ?? 0}-${opts.isolatedItems ?? 0}` : '';
  return assemble(nUsers, nItems, split, `community-${nUsers}-${nItems}-${communities}-${perUser}-${seed}${extra}`);
}
