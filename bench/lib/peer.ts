import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runJsonChild, type ChildRun } from './child.js';
import { BenchError } from './errors.js';

/** The PyTorch reference trainers in `<shared>/peers/` (see its README). */
export interface TorchPeer {
  /** Debian's torch is installed for the system interpreter only. */
  readonly python: string;
  readonly peersDir: string;
}

export const PEER_INSTALL_HINT =
  'The PyTorch peer needs the system interpreter with torch, numpy and scipy:\n' +
  '  apt-get update && apt-get install -y python3-torch python3-numpy python3-scipy\n' +
  'and runs with /usr/bin/python3 (not a pyenv/venv python3; pass --python to use another one).';

function unavailable(why: string, cause?: unknown): BenchError {
  return new BenchError('PEER_UNAVAILABLE', `the PyTorch peer cannot run: ${why}\n${PEER_INSTALL_HINT}`, { cause });
}

/** Checks that the peer script exists and that the interpreter imports torch, numpy and scipy; returns torch's version. */
export function checkTorchPeer(peer: TorchPeer, script: string): string {
  const path = join(peer.peersDir, script);
  if (!existsSync(path)) throw unavailable(`${path} does not exist (pass --shared <dir> for the shared folder)`);
  const probe = 'import torch, numpy, scipy; print(torch.__version__)';
  const res = spawnSync(peer.python, ['-c', probe], { encoding: 'utf8' });
  if (res.error) throw unavailable(`${peer.python} could not start (${res.error.message})`, res.error);
  if (res.status !== 0) throw unavailable(`${peer.python} -c '${probe}' failed:\n${res.stderr.trim().split('\n').slice(-5).join('\n')}`);
  const version = res.stdout.trim();
  if (!version) throw unavailable(`${peer.python} -c '${probe}' printed no torch version`);
  return version;
}

/** Runs one peer script to completion; any failure becomes PEER_UNAVAILABLE with the install hint. */
export async function runTorchPeer(peer: TorchPeer, script: string, args: readonly string[], label: string, timeoutMs?: number): Promise<ChildRun> {
  try {
    return await runJsonChild(peer.python, [join(peer.peersDir, script), ...args], { label, timeoutMs });
  } catch (err) {
    throw err instanceof BenchError ? unavailable(err.message, err) : err;
  }
}
