/**
 * The command line. Errors are caught here, once, and mapped to an exit code and one clear line
 * (0 done, 2 bad input or config, 3 a peer could not be reached, 1 anything else).
 */
import { Command, CommanderError, Option } from 'commander';
import { CamrecError } from '../errors/index.js';
import { tuneAllocator } from '../compute/allocator.js';
import { tuneHeapGrowth } from '../compute/heap-growth.js';
import { loadNative } from '../compute/native.js';
import { compareCommand } from './compare-command.js';
import { evalCommand } from './eval-command.js';
import { explainCommand } from './explain-command.js';
import { reportCommand } from './report-command.js';
import { gridFlag, hyperFlag, intListFlag, numberFlag, taskQueueFlag } from './flags.js';
import { packageVersion } from './provenance.js';
import { trainCommand } from './train-command.js';
import { simulateCommand } from './simulate-command.js';
import { paramserverCommand, type ParamServerFlags } from './paramserver-command.js';
import { coordinatorCommand } from './coordinator-command.js';
import { workerCommand, type WorkerFlags } from './worker-command.js';
import { opsFlags } from './ops.js';
import { NEIGHBOURHOODS } from '../train/index.js';
import { models } from '../models/index.js';
import { WIRE_ENCODINGS } from '../paramserver/index.js';

/** Parse only: each command's parsed flags go to `onParsed` instead of running it (manifest checks, test/ops). */
export interface MainOptions {
  readonly parseOnly?: (command: string, flags: Record<string, unknown>) => void;
}

export async function main(argv: string[], mainOpts: MainOptions = {}): Promise<number> {
  // Before any command allocates: keep multi-megabyte buffers in malloc's heap (src/compute/allocator.ts).
  // CAMREC_NATIVE=0 keeps the addon unloaded here too.
  tuneAllocator(loadNative({ disabled: process.env.CAMREC_NATIVE === '0' }));
  // Fewer full collections of a heap that holds little but churns much (src/compute/heap-growth.ts).
  try {
    tuneHeapGrowth();
  } catch (err) {
    return reportError(err);
  }
  let exitCode = 0;
  const program = new Command('camrec')
    .description('Train causal multimodal recommenders on one machine or a cluster')
    .version(packageVersion())
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const { parseOnly } = mainOpts;
  if (parseOnly) {
    program.hook('preAction', (_program, command) => {
      parseOnly(command.name(), command.opts());
      throw new CommanderError(0, 'camrec.parseOnly', 'parsed only');
    });
  }

  trainFlags(program.command('train').description('train a model (default: CaMRec on the bundled TikTok data)'))
    .option('--distributed <local:W:S>', 'train through S parameter-server shards, a coordinator and W workers on this machine')
    .option('--tasks-per-step <n>', 'with --distributed: tasks each global step is split into (default: the number of workers W)', numberFlag('--tasks-per-step'))
    .option('--consistency <mode>', 'with --distributed: bsp (default), ssp:<s> (at most s steps ahead) or async')
    .option('--nats <url>', 'with --distributed: job events on NATS (default: in memory)')
    .option('--task-queue <kind>', 'with --distributed: policy (default: the coordinator leases tasks) or jetstream (a JetStream work queue on --nats holds them)', taskQueueFlag)
    .option('--eval-on-coordinator', 'with --distributed: evaluate on the coordinator alone, not sharded over the workers')
    .addOption(neighbourhoodOption('with --distributed: '))
    .addOption(wireOption('with --distributed: '))
    .action(async (opts: Record<string, unknown>) => {
      exitCode = await trainCommand(opts);
    });

  program
    .command('eval')
    .description('evaluate a checkpoint on the valid and test splits')
    .requiredOption('--checkpoint <file>', 'a best.ckpt or last.ckpt')
    .option('--data <dir>', 'dataset folder (default: the one the checkpoint was trained on)')
    .addOption(new Option('--backend <name>').choices(['auto', 'wasm', 'tensorflow', 'tensorflow-gpu']))
    .option('--threads <n>', 'worker threads', numberFlag('--threads'))
    .option('--no-native', 'do not use the optional native kernels')
    .option('--json', 'print one JSON result line on stdout')
    .addOption(new Option('--log-level <level>').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']))
    .action(async (opts: Record<string, unknown>) => {
      exitCode = await evalCommand(opts);
    });

  program
    .command('explain')
    .description('camrec: write each item\'s environment codes and each training edge\'s mask score, with the extremes')
    .requiredOption('--checkpoint <file>', 'a camrec best.ckpt or last.ckpt')
    .option('--out <dir>', 'output folder (default: the checkpoint\'s folder + /explain)')
    .option('--top <n>', 'how many edges, items and users to list at each extreme (default 20)', numberFlag('--top'))
    .option('--data <dir>', 'dataset folder (default: the one the checkpoint was trained on)')
    .addOption(new Option('--backend <name>').choices(['auto', 'wasm', 'tensorflow', 'tensorflow-gpu']))
    .option('--threads <n>', 'worker threads', numberFlag('--threads'))
    .option('--no-native', 'do not use the optional native kernels')
    .addOption(new Option('--log-level <level>').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']))
    .action(async (opts: Record<string, unknown>) => {
      exitCode = await explainCommand(opts);
    });

  program
    .command('compare')
    .description('runs side by side from their result files (mean ± std over seeds), and against a baseline paired by seed')
    .argument('<runs...>', 'each [label=]path[,path...]: a run folder, a multi-seed or grid folder, or result files; paths under one label form one run')
    .option('--baseline <label>', 'pair every other run with this one by seed (its label: the name before =, or the folder name)')
    .option('--metrics <list>', 'test metrics, comma-separated (default recall@20,ndcg@20)')
    .option('--pool-datasets', 'a run\'s seeds may come from different datasets (the simulator\'s one per seed); pairs still need the same data')
    .option('--digits <n>', 'decimals shown (default 4)', numberFlag('--digits'))
    .option('--paper', 'each run beside the published figures for its model, ablation and dataset (the CaMRec paper\'s Tables 1 and 2)')
    .option('--markdown', 'markdown tables')
    .option('--json', 'one JSON line on stdout')
    .action(async (runs: string[], opts: Record<string, unknown>) => {
      exitCode = await compareCommand(runs, opts);
    });

  program
    .command('report')
    .description('write a run\'s report.html: metrics, curves, selection, the paper\'s figures, data, cost and provenance (one seed, a multi-seed or grid folder, or one seed still training)')
    .argument('<run>', 'a run folder (the --out of camrec train)')
    .option('--out <file>', 'where to write it (default <run>/report.html)')
    .action((run: string, opts: Record<string, unknown>) => {
      exitCode = reportCommand(run, opts);
    });

  program
    .command('simulate')
    .description('write a simulated dataset with known confounders, exposure bias and noise edges (docs/simulator.md)')
    .requiredOption('--out <dir>', 'output folder (MMRec layout + ground truth); must be empty unless --force')
    .option('--preset <name>', 'settings preset: default (the validity experiments), tiny, large', 'default')
    .option('--seed <n>', 'random seed (default 1)', numberFlag('--seed'))
    .option('--users <n>', 'number of users', numberFlag('--users'))
    .option('--items <n>', 'number of items', numberFlag('--items'))
    .option('--k <n>', 'number of latent confounders (environments)', numberFlag('--k'))
    .option('--noise-rate <x>', 'expected fraction of train edges that are injected noise', numberFlag('--noise-rate'))
    .option('--snr <x>', 'signal-to-noise power ratio of the modality features', numberFlag('--snr'))
    .option('--name <name>', 'dataset name: <name>.inter (default: the folder name)')
    .option('--force', 'write into a non-empty folder')
    .option('--json', 'print one JSON result line on stdout')
    .addOption(new Option('--log-level <level>').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']))
    .action(async (opts: Record<string, unknown>) => {
      exitCode = await simulateCommand(opts);
    });

  opsFlags(program.command('paramserver'))
    .description('serve one parameter-server shard; clients send its tables in an Init call (docs/paramserver.md)')
    .requiredOption('--shard <i>', 'this shard index, 0..shards-1', numberFlag('--shard'))
    .requiredOption('--shards <n>', 'number of shards', numberFlag('--shards'))
    .option('--port <n>', 'port (default 50051; 0: any free port, printed on stdout)', numberFlag('--port'))
    .option('--host <ip>', 'address to bind (default 127.0.0.1)')
    .option('--listen <host:port>', 'address and port together')
    .option('--insecure', 'allow a non-loopback address without a token')
    .option('--token-file <file>', 'shared token clients must send (or CAMREC_PS_TOKEN)')
    .option('--checkpoint-dir <dir>', 'checkpoint folder: restored from on start, written on request and on SIGTERM')
    .option('--checkpoint-every <n>', 'also checkpoint every n applied steps', numberFlag('--checkpoint-every'))
    .option('--max-message-mb <n>', 'largest gRPC message in MiB (default 64)', numberFlag('--max-message-mb'))
    .addOption(new Option('--log-level <level>').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']))
    .action(async (opts: ParamServerFlags) => {
      exitCode = await paramserverCommand(opts);
    });

  opsFlags(trainFlags(program.command('coordinator').description('run one training job over parameter-server shards and the workers that join (docs/distributed.md)')))
    .requiredOption('--shards <list>', 'host:port of every parameter-server shard, comma-separated')
    .option('--port <n>', 'port (default 50050; 0: any free port, printed on stdout)', numberFlag('--port'))
    .option('--host <ip>', 'address to bind (default 127.0.0.1)')
    .option('--listen <host:port>', 'address and port together')
    .option('--insecure', 'allow a non-loopback address without a token')
    .option('--token-file <file>', 'shared token workers must send (or CAMREC_TOKEN)')
    .option('--job <id>', 'job id in event subjects (default <model>-<time>)')
    .option('--nats <url>', 'publish job events on NATS (default: in memory)')
    .option('--task-queue <kind>', 'policy (default: workers ask this coordinator for tasks) or jetstream (it puts them on a JetStream work queue on --nats, workers take them from there)', taskQueueFlag)
    .option('--tasks-per-step <n>', 'tasks each global step is split into, whatever the number of workers (default 4)', numberFlag('--tasks-per-step'))
    .option('--consistency <mode>', 'bsp (default: equal to one process), ssp:<s> (at most s steps ahead of the oldest step not applied) or async')
    .option('--lease-ms <n>', 'how long a worker holds a task unless it renews it (default 120000; 30000 with --task-queue jetstream, the ack wait)', numberFlag('--lease-ms'))
    .option('--max-attempts <n>', 'attempts of a task before the job fails (default 5)', numberFlag('--max-attempts'))
    .option('--worker-timeout-ms <n>', 'a worker silent this long is dropped, its tasks re-queued (default 30000)', numberFlag('--worker-timeout-ms'))
    .option('--min-workers <n>', 'the first epoch waits until this many workers have joined (default 1); later ones join whenever they come', numberFlag('--min-workers'))
    .option('--gather-timeout-ms <n>', 'the longest the first epoch waits for --min-workers; then it opens with the workers that joined (default 300000)', numberFlag('--gather-timeout-ms'))
    .option('--heartbeat-ms <n>', 'how often workers send heartbeats (default 1000)', numberFlag('--heartbeat-ms'))
    .option('--eval-on-coordinator', 'evaluate on the coordinator alone (default: sharded over the workers when two or more evaluate)')
    .addOption(wireOption(''))
    .action(async (opts: Record<string, unknown>) => {
      exitCode = await coordinatorCommand(opts);
    });

  opsFlags(program.command('worker'))
    .description('a stateless worker: takes tasks from a coordinator until the job ends (docs/distributed.md)')
    .requiredOption('--coordinator <host:port>', 'the coordinator')
    .option('--shards <list>', 'parameter-server shards (default: the ones the coordinator names)')
    .option('--data <dir>', 'dataset folder (default: the coordinator\'s; must be the same data)')
    .option('--id <name>', 'worker id (default <host>-<pid>)')
    .option('--token-file <file>', 'shared token (or CAMREC_TOKEN)')
    .option('--task-queue <kind>', 'policy (ask the coordinator for tasks) or jetstream (take them from the job\'s JetStream work queue); default: the coordinator\'s', taskQueueFlag)
    .option('--nats <url>', 'the JetStream task queue\'s NATS server (default: the one the coordinator names)')
    .option('--coordinator-wait-ms <n>', 'how long to wait for a coordinator that stopped answering, e.g. while it restarts with --resume (default 120000)', numberFlag('--coordinator-wait-ms'))
    .addOption(new Option('--backend <name>', 'compute backend (default: the coordinator\'s)').choices(['auto', 'wasm', 'tensorflow', 'tensorflow-gpu']))
    .option('--threads <n>', 'worker threads for kernels', numberFlag('--threads'))
    .addOption(neighbourhoodOption())
    .option('--no-native', 'do not use the optional native kernels')
    .option('--json', 'print one JSON line with the worker\'s totals on stdout')
    .addOption(wireOption('', ' (default: the job\'s)'))
    .addOption(new Option('--log-level <level>').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']))
    .action(async (opts: WorkerFlags) => {
      exitCode = await workerCommand(opts);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    return reportError(err);
  }
}

/** `--neighbourhood full|blocks`: what a worker's task reads of the graph (docs/distributed.md §5). */
function neighbourhoodOption(prefix = ''): Option {
  return new Option('--neighbourhood <mode>', `${prefix}full: a task reads the rows the model names (every row for lightgcn, camrec); blocks: only its triples' L-hop neighbourhood, on message-flow blocks (default full)`).choices([...NEIGHBOURHOODS]);
}

/** --wire: how row values travel between workers and shards (docs/paramserver.md "Reduced-precision wire"). */
function wireOption(prefix: string, suffix = ' (default f32: exact)'): Option {
  return new Option('--wire <encoding>', `${prefix}row values between workers and shards: f32, bf16 or f16${suffix}`).choices([...WIRE_ENCODINGS]);
}

/** The flags of one training run, shared by `train` and `coordinator`. */
function trainFlags(cmd: Command): Command {
  const backend = new Option('--backend <name>', 'compute backend').choices(['auto', 'wasm', 'tensorflow', 'tensorflow-gpu']);
  return cmd
    .option('--config <file>', 'YAML or JSON config; flags override it')
    .option('--model <name>', `model: ${models.names().join(', ')} (default camrec)`)
    .option('--data <dir>', 'dataset folder in MMRec layout')
    .option('--epochs <n>', 'maximum epochs (early stopping still applies)', numberFlag('--epochs'))
    .option('--seed <n>', 'random seed', numberFlag('--seed'))
    .option('--seeds <list>', 'several seeds, e.g. 1,2,3: mean ± std', intListFlag('--seeds'))
    .option('--out <dir>', 'run directory (default runs/<model>-<data>-<time>)')
    .option('--batch <n>', 'batch size', numberFlag('--batch'))
    .option('--lr <x>', 'learning rate', numberFlag('--lr'))
    .addOption(new Option('--optimizer <name>').choices(['adam', 'adagrad']))
    .option('--patience <n>', 'early-stopping patience in evaluations', numberFlag('--patience'))
    .option('--eval-every <n>', 'evaluate every n epochs', numberFlag('--eval-every'))
    .option('--bench-epochs <n>', 'benchmark mode: exactly n epochs, then one evaluation', numberFlag('--bench-epochs'))
    .option('--dim <n>', 'embedding size (hyper.dim)', numberFlag('--dim'))
    .option('--layers <n>', 'propagation layers (hyper.layers)', numberFlag('--layers'))
    .option('--reg <x>', 'regularisation weight (hyper.reg)', numberFlag('--reg'))
    .option('--hyper <key=value>', 'a model hyper-parameter (repeatable)', hyperFlag)
    .option('--grid <key=v1,v2>', 'model selection on valid over these values (repeatable: a grid)', gridFlag)
    .option('--no-backdoor', 'camrec: without the back-door adjustment (no diffusion, no codebook)')
    .option('--no-frontdoor', 'camrec: without the front-door adjustment (no edge mask, no InfoNCE)')
    .option('--no-diffusion', 'camrec: the codebook stratifies the semantic features directly (w/o DCD)')
    .addOption(backend)
    .option('--threads <n>', 'worker threads for kernels and evaluation', numberFlag('--threads'))
    .option('--no-native', 'do not use the optional native kernels')
    .option('--resume', 'continue from <out>/last.ckpt')
    .option('--json', 'print one JSON result line on stdout')
    .addOption(new Option('--log-level <level>').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']));
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.exitCode === 0) return 0; // --help, --version
    return 2; // commander already printed the usage error
  }
  if (err instanceof CamrecError) {
    process.stderr.write(`camrec: ${err.message}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`camrec: unexpected error: ${e?.stack ?? String(err)}\n`);
  return 1;
}
