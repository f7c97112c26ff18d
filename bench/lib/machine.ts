import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { repoRoot } from './paths.js';

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  /** 1, 5 and 15 minute load averages when the benchmark started: a busy machine inflates every timing. */
  readonly loadAverageAtStart: number[];
  /** OPENBLAS_* variables as found; they change the peer's evaluation GEMM speed (peers/README.md). */
  readonly openblasEnv: Record<string, string>;
}

export function machineInfo(): MachineInfo {
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${process.platform} ${release()}`,
    node: process.version,
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    openblasEnv: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('OPENBLAS_')) as [string, string][]),
  };
}

/** HEAD's commit, with '-dirty' when tracked files differ from it; null outside a git checkout. */
export function gitCommit(): string | null {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const dirty = git('status', '--porcelain', '--untracked-files=no').trim().length > 0;
    return `${git('rev-parse', 'HEAD').trim()}${dirty ? '-dirty' : ''}`;
  } catch {
    return null;
  }
}
