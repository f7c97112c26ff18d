/**
 * A client that dies in the middle of a bsp step: it connects to the shards given as arguments, prepares step 1
 * on shard 0 only, and kills itself before it reaches shard 1 (process.test.ts).
 */
import { bytesOf, RemoteParamStore, ShardClient } from '../../src/paramserver/index.js';
import { adam } from '../../src/train/index.js';
import { placement, randomGrads, SPECS } from './helpers.js';

const addresses = process.argv.slice(2);
const store = await RemoteParamStore.connect({ addresses, specs: SPECS, optimizer: adam(0.01), seed: 11, placement });
store.close();
const users = randomGrads(1).find((g) => g.table === 'users')!;
const even = users.ids!.filter((id) => id % 2 === 0);
const shard0 = new ShardClient(addresses[0]);
await shard0.prepare({
  step: 1,
  task: 'dying:1',
  attempt: 0,
  blocks: [{ table: 'users', ids: bytesOf(Uint32Array.from(even)), values: bytesOf(new Float32Array(even.length * 8).fill(1)), allRows: false }],
});
process.kill(process.pid, 'SIGKILL');
