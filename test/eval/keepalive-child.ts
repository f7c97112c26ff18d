/**
 * Child process for evaluate.test.ts: evaluates with a warm evaluator and never closes it. The process must
 * still exit by itself once its work is done; it prints the evaluated user count.
 */
import { createEvaluator } from '../../src/eval/index.js';
import { randomSplit } from './fixtures.js';

const data = randomSplit(11, { nUsers: 40, nItems: 30, dim: 4, trainPerUser: [0, 3], truthPerUser: [1, 2] });
const evaluator = await createEvaluator({ threads: 2, kernel: process.argv[2] === 'js' ? 'js' : 'wasm' });
const result = await evaluator.evaluate(data);
console.log(result.users);
