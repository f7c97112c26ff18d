/** Parameter-server shards as real child processes (`camrec paramserver`), for the process tests and the bench. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface ShardProcess {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly address: string;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  readonly exited: Promise<number | string>;
  stderr(): string;
}

/** Starts `camrec paramserver --shard i --shards S --port 0 ...` from source and waits for its listening line. */
export function spawnShard(shard: number, shards: number, extra: readonly string[] = []): Promise<ShardProcess> {
  const args = ['--import', 'tsx', 'scripts/camrec-dev.mts', 'paramserver', '--shard', String(shard), '--shards', String(shards), '--port', '0', '--log-level', 'warn', ...extra];
  const proc = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise((resolve, reject) => {
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const line = out.split('\n').find((l) => l.trim().startsWith('{'));
      if (!line || !out.includes('\n')) return;
      const { port } = JSON.parse(line) as { port: number };
      resolve({ proc, port, address: `127.0.0.1:${port}`, exited, stderr: () => err });
    });
    void exited.then((code) => reject(new Error(`shard ${shard} exited with ${code} before listening:\n${err}`)));
  });
}

/** Runs a TypeScript file under tsx and resolves with how it ended. */
export function runScript(file: string, args: readonly string[]): Promise<{ code: number | string; stderr: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  return new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code: code ?? signal ?? -1, stderr: err })));
}
