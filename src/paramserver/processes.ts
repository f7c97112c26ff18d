/**
 * Parameter-server shards as child processes (`camrec paramserver ... --port 0`), for single-machine
 * distributed runs, tests and benchmarks: each child prints one JSON line with its port once it listens.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface ShardProcess {
  readonly proc: ChildProcess;
  readonly port: number;
  /** host:port on loopback. */
  readonly address: string;
  /** Resolves with the exit code, or the signal's name, when the process ends. */
  readonly exited: Promise<number | string>;
  /** What the child has written on stderr so far. */
  stderr(): string;
}

export interface ShardLaunch {
  /** How to run camrec: the program and its leading arguments, e.g. [node, 'bin/camrec.js']. */
  readonly camrec: readonly string[];
  readonly shard: number;
  readonly shards: number;
  /** More flags for `camrec paramserver` (e.g. --checkpoint-dir). */
  readonly flags?: readonly string[];
  readonly cwd?: string;
}

/** Starts one shard on a free loopback port and resolves once it listens (rejects if it exits first). */
export function spawnShard(l: ShardLaunch): Promise<ShardProcess> {
  const [program, ...lead] = l.camrec;
  const args = [...lead, 'paramserver', '--shard', String(l.shard), '--shards', String(l.shards), '--port', '0', '--log-level', 'warn', ...(l.flags ?? [])];
  const proc = spawn(program, args, { cwd: l.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise((resolve, reject) => {
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const end = out.indexOf('\n');
      if (end < 0) return;
      const { port } = JSON.parse(out.slice(0, end)) as { port: number };
      resolve({ proc, port, address: `127.0.0.1:${port}`, exited, stderr: () => err });
    });
    void exited.then((code) => reject(new Error(`shard ${l.shard} of ${l.shards} exited with ${code} before it listened:\n${err}`)));
  });
}
