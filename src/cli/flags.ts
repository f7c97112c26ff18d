import { ConfigError } from '../errors/index.js';

/** Commander option parsers that fail with a ConfigError naming the flag. */
export function numberFlag(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`flag ${flag}: '${v}' is not a number`);
    return n;
  };
}

export function intListFlag(flag: string) {
  return (v: string): number[] => {
    const parts = v.split(',').map((s) => s.trim());
    return parts.map((p) => {
      const n = Number(p);
      if (p === '' || !Number.isInteger(n)) throw new ConfigError(`flag ${flag}: '${p}' in '${v}' is not an integer`);
      return n;
    });
  };
}

/** --hyper key=value, repeatable; values parsed as JSON when they are JSON (numbers, booleans), else strings. */
export function hyperFlag(v: string, prev: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new ConfigError(`flag --hyper: '${v}' is not key=value`);
  const key = v.slice(0, eq);
  const raw = v.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  return { ...prev, [key]: value };
}

/** --grid key=v1,v2,..., repeatable: the values a hyper-parameter takes in model selection (JSON where JSON). */
export function gridFlag(v: string, prev: Record<string, unknown[]> = {}): Record<string, unknown[]> {
  const eq = v.indexOf('=');
  if (eq <= 0 || eq === v.length - 1) throw new ConfigError(`flag --grid: '${v}' is not key=v1,v2,...`);
  const values = v
    .slice(eq + 1)
    .split(',')
    .map((raw) => {
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        return raw;
      }
    });
  return { ...prev, [v.slice(0, eq)]: values };
}

/** How workers get their tasks (`--task-queue`): the coordinator leases them, or a JetStream work queue holds them. */
export type TaskQueueKind = 'policy' | 'jetstream';

export function taskQueueFlag(v: string): TaskQueueKind {
  if (v !== 'policy' && v !== 'jetstream') throw new ConfigError(`flag --task-queue: '${v}' is not policy or jetstream`);
  return v;
}

/** `--task-queue` (default policy); jetstream needs `--nats`, the server that holds the queue. */
export function checkTaskQueue(kind: TaskQueueKind | undefined, nats: unknown): TaskQueueKind {
  if (kind === 'jetstream' && typeof nats !== 'string') {
    throw new ConfigError('flag --task-queue jetstream needs --nats <url>: the NATS server, with JetStream, that holds the job\'s task queue');
  }
  return kind ?? 'policy';
}
