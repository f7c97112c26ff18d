/**
 * `npm run bench [-- --suite lightgcn --datasets a,b --repeats N ...]`: runs one benchmark suite, prints its
 * tables on stdout (progress on stderr), and writes bench/results/<suite>-<timestamp>.json and latest.json.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { isWireEncoding } from '../src/paramserver/index.js';
import { BenchError } from './lib/errors.js';
import { gitCommit, machineInfo } from './lib/machine.js';
import { sharedDir } from './lib/paths.js';
import { writeResults } from './lib/results.js';
import type { BenchOptions, Suite } from './lib/suite.js';
import { camrecSuite } from './suites/camrec.js';
import { DISTRIBUTED_LAYOUTS, distributedSuite, parseLayout } from './suites/distributed.js';
import { lightgcnSuite } from './suites/lightgcn.js';
import { paramserverSuite } from './suites/paramserver.js';

const suites: Record<string, Suite> = {
  [lightgcnSuite.name]: lightgcnSuite,
  [camrecSuite.name]: camrecSuite,
  [paramserverSuite.name]: paramserverSuite,
  [distributedSuite.name]: distributedSuite,
};

const USAGE = `usage: npm run bench -- [options]
  --suite <name>       one of: ${Object.keys(suites).join(', ')} (default lightgcn)
  --datasets <a,b>     datasets under <shared>/datasets (default: the suite's)
  --repeats <n>        interleaved repeats per dataset, figures are medians (default 3)
  --epochs <n>         training epochs per run (default 3)
  --threads <n>        threads for both sides (default 2)
  --python <path>      interpreter for the PyTorch peer (default /usr/bin/python3)
  --shared <dir>       folder with datasets/ and peers/ (default ../shared)
  --skip-build         measure the dist/ that is there instead of compiling src/ first
  --timeout-min <n>    limit for one child process (default 60)
  --wire <a,b>         paramserver and distributed suites: wire encodings side by side, the first the base
                       (default f32,bf16; any of f32, bf16, f16)
  --layouts <a,b>      distributed suite: the runs beside one process, in order (default ${DISTRIBUTED_LAYOUTS.join(',')}):
                       local:W:S (W workers, S shards; each wire encoding) or local:W:S/T (T tasks per step)`;

function positiveInt(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new BenchError('BAD_ARGS', `${flag}: '${v}' is not a positive integer\n${USAGE}`);
  return n;
}

function parseOptions(argv: string[]): { suite: Suite; opts: BenchOptions } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        suite: { type: 'string', default: 'lightgcn' },
        datasets: { type: 'string' },
        repeats: { type: 'string' },
        epochs: { type: 'string' },
        threads: { type: 'string' },
        python: { type: 'string', default: '/usr/bin/python3' },
        shared: { type: 'string' },
        'skip-build': { type: 'boolean', default: false },
        'timeout-min': { type: 'string' },
        wire: { type: 'string', default: 'f32,bf16' },
        layouts: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    throw new BenchError('BAD_ARGS', `${(err as Error).message}\n${USAGE}`, { cause: err });
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const suite = suites[values.suite];
  if (!suite) throw new BenchError('BAD_ARGS', `unknown suite '${values.suite}' (have: ${Object.keys(suites).join(', ')})`);
  const datasets = values.datasets?.split(',').map((s) => s.trim()).filter(Boolean);
  const wires = values.wire.split(',').map((s) => s.trim());
  const badWire = wires.find((w) => !isWireEncoding(w));
  if (badWire !== undefined || wires.length === 0) throw new BenchError('BAD_ARGS', `--wire: '${values.wire}' is not a list of f32, bf16, f16\n${USAGE}`);
  const layouts = values.layouts?.split(',').map((s) => s.trim());
  const badLayout = layouts?.find((l) => parseLayout(l) === null);
  if (badLayout !== undefined) throw new BenchError('BAD_ARGS', `--layouts: '${badLayout}' is not local:W:S or local:W:S/T\n${USAGE}`);
  return {
    suite,
    opts: {
      datasets: datasets?.length ? datasets : undefined,
      repeats: positiveInt('--repeats', values.repeats, 3),
      epochs: positiveInt('--epochs', values.epochs, 3),
      threads: positiveInt('--threads', values.threads, 2),
      python: values.python,
      shared: sharedDir(values.shared),
      build: !values['skip-build'],
      timeoutMs: positiveInt('--timeout-min', values['timeout-min'], 60) * 60_000,
      wires: wires.filter(isWireEncoding),
      ...(layouts ? { layouts } : {}),
      machine: machineInfo(),
      log: (line) => process.stderr.write(`${line}\n`),
    },
  };
}

async function main(argv: string[]): Promise<number> {
  const { suite, opts } = parseOptions(argv);
  const startedAt = new Date();
  const commit = gitCommit();
  const { result, report, machine } = await suite.run(opts);
  const finishedAt = new Date();
  const loadAfter = loadavg().map((x) => Math.round(x * 100) / 100);
  const load = `load average (1/5/15 min) ${opts.machine.loadAverageAtStart.join('/')} at start, ${loadAfter.join('/')} at end`;
  process.stdout.write(`\n${report}\n\ncommit ${commit ?? 'unknown'}; ${load}\n`);
  const { log: _log, machine: _machine, ...options } = opts;
  const path = writeResults(
    suite.name,
    { suite: suite.name, startedAt, finishedAt, commit, options, machine: { ...opts.machine, ...machine, loadAverageAtEnd: loadAfter }, ...result },
    startedAt,
  );
  process.stdout.write(`results: ${path} (and bench/results/latest.json)\n`);
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof BenchError)) throw err;
  process.stderr.write(`\nbench: ${err.message}\n`);
  process.exitCode = err.code === 'BAD_ARGS' ? 2 : 1;
}
