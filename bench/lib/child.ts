import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { BenchError } from './errors.js';

export type JsonObject = Record<string, unknown>;

export interface ChildRun {
  /** The child's result: the last non-empty line of its stdout, parsed as a JSON object. */
  readonly json: JsonObject;
  /** Wall time of the whole child process, start-up included. */
  readonly wallSeconds: number;
  readonly stderrTail: string;
}

export interface ChildOptions {
  /** Names the child in error messages, e.g. 'camrec lightgcn on tiktok'. */
  readonly label: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
}

const TAIL_CHARS = 4000;

/** Keeps only the end of a stream: enough to show why a child failed. */
function tail(s: string, chars = TAIL_CHARS): string {
  return s.length <= chars ? s : `…${s.slice(-chars)}`;
}

/** Parses the last non-empty line of `stdout` as a JSON object; null when it is not one. */
export function parseJsonLine(stdout: string): JsonObject | null {
  const last = stdout.trimEnd().split('\n').pop()?.trim();
  if (!last) return null;
  try {
    const v: unknown = JSON.parse(last);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as JsonObject) : null;
  } catch {
    return null;
  }
}

/**
 * Runs a child to completion and returns its JSON result line. Throws a BenchError (CHILD_FAILED) that names
 * the child and carries its stderr tail when it cannot start, exits non-zero, times out or prints no JSON line.
 */
export function runJsonChild(command: string, args: readonly string[], opts: ChildOptions): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = tail(stderr + s, 4 * TAIL_CHARS)));
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    const fail = (why: string, cause?: unknown) => {
      const shown = tail(stderr.trim()) || '(nothing on stderr)';
      reject(new BenchError('CHILD_FAILED', `${opts.label}: ${why}\n  command: ${command} ${args.join(' ')}\n  stderr tail:\n${shown}`, { cause }));
    };
    child.on('error', (err) => {
      clearTimeout(timer);
      fail(`could not start (${err.message})`, err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallSeconds = (performance.now() - t0) / 1000;
      if (timedOut) return fail(`timed out after ${opts.timeoutMs! / 1000} s`);
      if (code !== 0) return fail(`exited with ${code ?? signal}`);
      const json = parseJsonLine(stdout);
      if (!json) return fail(`printed no JSON result line; stdout tail:\n${tail(stdout.trim()) || '(empty)'}`);
      resolve({ json, wallSeconds, stderrTail: tail(stderr) });
    });
  });
}

/** A numeric field of a child's JSON result; throws CHILD_FAILED naming the field when it is missing. */
export function numberAt(json: JsonObject, path: string, label: string): number {
  const v = path.split('.').reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as JsonObject)[k] : undefined), json);
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new BenchError('CHILD_FAILED', `${label}: result line has no number at '${path}' (got ${JSON.stringify(v)})`);
  }
  return v;
}
