/**
 * Where a distributed epoch's time went (docs/distributed.md §1): the workers' per-task split (pull, compute,
 * push = prepare under bsp or push under ssp/async on every shard, wait = lease wait, report) and the rows and
 * bytes they moved, summed over the epoch's accepted results, plus the coordinator's own commit time. Written
 * under `distributed` in each metrics.jsonl line, beside the epoch's staleness (job.ts).
 */

/** What a worker measured for one task (the Report's optional fields; 0 when a worker did not send them). */
export interface TaskTiming {
  readonly pullSeconds: number;
  readonly computeSeconds: number;
  readonly pushSeconds: number;
  readonly waitSeconds: number;
  readonly reportSeconds: number;
  readonly rowsPulled: number;
  readonly rowsPushed: number;
  readonly bytesPulled: number;
  readonly bytesPushed: number;
}

const FIELDS = ['pullSeconds', 'computeSeconds', 'pushSeconds', 'waitSeconds', 'reportSeconds', 'rowsPulled', 'rowsPushed', 'bytesPulled', 'bytesPushed'] as const;

/** The `distributed` record of one epoch in metrics.jsonl. */
export interface EpochTraffic {
  readonly steps: number;
  readonly tasks: number;
  readonly workers: number;
  /** Mean per accepted task, in ms. */
  readonly taskMs: { pull: number; compute: number; push: number; wait: number; report: number };
  /** Mean per step, in ms: the coordinator's Commit on every shard (0 under ssp/async, where nothing is committed). */
  readonly commitMs: number;
  /** Sums over the epoch's accepted tasks. */
  readonly rowsPulled: number;
  readonly rowsPushed: number;
  readonly bytesPulled: number;
  readonly bytesPushed: number;
}

export class TrafficAccount {
  private sums = zero();
  private tasks = 0;
  private steps = 0;
  private commitSeconds = 0;
  private readonly workers = new Set<string>();

  /** An accepted result. */
  task(worker: string, t: Partial<TaskTiming>): void {
    this.tasks++;
    this.workers.add(worker);
    for (const k of FIELDS) this.sums[k] += Number(t[k] ?? 0) || 0;
  }

  /** A step done: committed under bsp (in `commitSeconds`), applied task by task under ssp/async (0). */
  step(commitSeconds: number): void {
    this.steps++;
    this.commitSeconds += commitSeconds;
  }

  /** The epoch's record; the account starts over. */
  close(): EpochTraffic {
    const per = (s: number) => (this.tasks ? (1000 * s) / this.tasks : 0);
    const s = this.sums;
    const out: EpochTraffic = {
      steps: this.steps,
      tasks: this.tasks,
      workers: this.workers.size,
      taskMs: { pull: per(s.pullSeconds), compute: per(s.computeSeconds), push: per(s.pushSeconds), wait: per(s.waitSeconds), report: per(s.reportSeconds) },
      commitMs: this.steps ? (1000 * this.commitSeconds) / this.steps : 0,
      rowsPulled: s.rowsPulled,
      rowsPushed: s.rowsPushed,
      bytesPulled: s.bytesPulled,
      bytesPushed: s.bytesPushed,
    };
    this.sums = zero();
    this.tasks = 0;
    this.steps = 0;
    this.commitSeconds = 0;
    this.workers.clear();
    return out;
  }
}

function zero(): Record<(typeof FIELDS)[number], number> {
  return Object.fromEntries(FIELDS.map((k) => [k, 0])) as Record<(typeof FIELDS)[number], number>;
}
