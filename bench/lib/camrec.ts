import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJsonChild, type ChildRun } from './child.js';
import { BenchError } from './errors.js';
import { repoRoot } from './paths.js';

/** Compiles src/ to dist/ once, so that every run measures the same build, the one `bin/camrec.js` loads. */
export function buildCamrec(): void {
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const res = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: repoRoot, encoding: 'utf8' });
  if (res.status === 0) return;
  const out = `${res.stdout ?? ''}${res.stderr ?? ''}`.trim().split('\n').slice(0, 30).join('\n');
  throw new BenchError(
    'BUILD_FAILED',
    `npx tsc -p tsconfig.build.json failed (${res.error?.message ?? `exit ${res.status}`}):\n${out}\n` +
      'Fix the build, or pass --skip-build to measure the dist/ that is already there.',
  );
}

/**
 * Runs `camrec <args> --json --log-level warn --out <fresh temp dir>` from dist/ and returns its result line.
 * The run directory is removed afterwards.
 */
export async function runCamrec(args: readonly string[], label: string, timeoutMs?: number): Promise<ChildRun> {
  const out = mkdtempSync(join(tmpdir(), 'camrec-bench-'));
  try {
    const argv = [join(repoRoot, 'bin', 'camrec.js'), ...args, '--json', '--log-level', 'warn', '--out', out];
    return await runJsonChild(process.execPath, argv, { label, cwd: repoRoot, timeoutMs });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
