import type { WireEncoding } from '../../src/paramserver/index.js';
import type { MachineInfo } from './machine.js';

/** What bench/run.ts hands every suite, from its command line. */
export interface BenchOptions {
  /** Dataset names under `<shared>/datasets/`; undefined means the suite's own list. */
  readonly datasets?: readonly string[];
  /** Interleaved repeats per dataset; figures are medians over them. */
  readonly repeats: number;
  /** Training epochs per benchmark run (each side's `--bench-epochs`). */
  readonly epochs: number;
  /** Threads for both sides (ours `--threads`, the peer's torch.set_num_threads). */
  readonly threads: number;
  readonly python: string;
  /** The shared folder with `datasets/` and `peers/`. */
  readonly shared: string;
  /** Compile src/ first (off: measure the dist/ that is there). */
  readonly build: boolean;
  /** Limit for one child process. */
  readonly timeoutMs: number;
  /** Parameter-server wire encodings to measure side by side (paramserver, distributed); the first is the base. */
  readonly wires: readonly WireEncoding[];
  /** Distributed suite: the runs beside one process (default all of DISTRIBUTED_LAYOUTS). */
  readonly layouts?: readonly string[];
  readonly machine: MachineInfo;
  /** Progress lines (stderr); the report itself is returned. */
  readonly log: (line: string) => void;
}

export interface SuiteOutcome {
  /** Everything worth keeping: raw runs, medians, ratios; written to bench/results/. */
  readonly result: Record<string, unknown>;
  /** The human-readable tables, printed on stdout. */
  readonly report: string;
  /** What the suite learned about the machine (e.g. the peer's torch version), added to the machine info. */
  readonly machine?: Record<string, unknown>;
}

export interface Suite {
  readonly name: string;
  readonly description: string;
  run(opts: BenchOptions): Promise<SuiteOutcome>;
}
