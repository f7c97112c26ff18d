/** Shards as child processes run from source, and TypeScript helper scripts, for the process tests. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnShard as spawnShardProcess, type ShardProcess } from '../../src/paramserver/index.js';

export type { ShardProcess };

const root = fileURLToPath(new URL('../..', import.meta.url));

/** `camrec` from source, as test/helpers/cli.ts runs it. */
export const CAMREC_DEV = [process.execPath, '--import', 'tsx', 'scripts/camrec-dev.mts'];

export function spawnShard(shard: number, shards: number, flags: readonly string[] = []): Promise<ShardProcess> {
  return spawnShardProcess({ camrec: CAMREC_DEV, shard, shards, flags, cwd: root });
}

/** Runs a TypeScript file under tsx and resolves with how it ended. */
export function runScript(file: string, args: readonly string[]): Promise<{ code: number | string; stderr: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  return new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code: code ?? signal ?? -1, stderr: err })));
}
