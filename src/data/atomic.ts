import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

let tempSeq = 0;

/**
 * Writes `bytes` to `path` so that a reader sees either the old file or the whole new one, never a part:
 * a temp file beside it, fsync, rename over the target, then fsync of the directory so the rename is durable.
 * On failure the temp file is removed and the target is left as it was.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${tempSeq++}.tmp`;
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDirectory(dirname(path));
}

async function syncDirectory(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; there the rename is as durable as it gets.
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
