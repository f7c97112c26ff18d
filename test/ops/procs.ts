/**
 * camrec processes for the ops tests, run from source: each is started with `--log-level info` so that its
 * "metrics serving" log line (pino JSON on stderr) names the metrics port it bound; servers also print their
 * JSON line with the gRPC port on stdout. `stopAll` ends every process the tests started, by its own pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { CAMREC_DEV } from '../paramserver/children.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Proc {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | string>;
  stdout(): string;
  stderr(): string;
  /** Resolves with the port of the first stderr log line with this message (rejects if the process ends first). */
  loggedPort(msg: string): Promise<number>;
  /** Resolves with the first stdout line, parsed as JSON. */
  firstLine<T>(): Promise<T>;
}

const started: ChildProcess[] = [];

export function camrecProc(args: readonly string[], env: Record<string, string> = {}): Proc {
  const [program, ...lead] = CAMREC_DEV;
  const proc = spawn(program, [...lead, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(proc);
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const waitFor = <T>(find: () => T | undefined, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const v = find();
        if (v === undefined) return false;
        clearInterval(timer);
        resolve(v);
        return true;
      };
      const timer = setInterval(check, 50);
      void exited.then((code) => {
        if (!check()) {
          clearInterval(timer);
          reject(new Error(`camrec ${args[0]} exited with ${code} before ${what}:\n${err}`));
        }
      });
    });
  return {
    proc,
    exited,
    stdout: () => out,
    stderr: () => err,
    loggedPort: (msg) =>
      waitFor(() => {
        for (const line of err.split('\n')) {
          if (!line.includes(`"msg":"${msg}"`)) continue;
          return (JSON.parse(line) as { port: number }).port;
        }
        return undefined;
      }, `logging '${msg}'`),
    firstLine: <T>() => waitFor(() => (out.includes('\n') ? (JSON.parse(out.slice(0, out.indexOf('\n'))) as T) : undefined), 'its first stdout line'),
  };
}

/** SIGKILLs every process these helpers started that is still running, and waits for them. */
export async function stopAll(): Promise<void> {
  const alive = started.filter((p) => p.exitCode === null && p.signalCode === null);
  for (const p of alive) p.kill('SIGKILL');
  await Promise.all(alive.map((p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once('exit', r)))));
}

/** A port that was free a moment ago (for a process that must be named before it starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
