/**
 * The run directory (DESIGN.md §1): config.json, metrics.jsonl (one line per epoch), best.ckpt, last.ckpt,
 * result.json. Whole files are written atomically; metrics.jsonl is appended a line at a time and, on resume,
 * cut back to the epochs the checkpoint holds.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../data/index.js';

export class RunDir {
  constructor(readonly path: string) {
    mkdirSync(path, { recursive: true });
  }

  file(name: string): string {
    return join(this.path, name);
  }

  writeJson(name: string, value: unknown): void {
    writeFileAtomic(this.file(name), `${JSON.stringify(value, null, 2)}\n`);
  }

  appendMetrics(line: Record<string, unknown>): void {
    appendFileSync(this.file('metrics.jsonl'), `${JSON.stringify(line)}\n`);
  }

  /** Keeps only the metric lines of epochs ≤ `epoch` (those a resumed checkpoint has seen). */
  truncateMetrics(epoch: number): void {
    const path = this.file('metrics.jsonl');
    if (!existsSync(path)) return;
    const kept = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .filter((l) => {
        try {
          return (JSON.parse(l) as { epoch: number }).epoch <= epoch;
        } catch {
          return false;
        }
      });
    writeFileAtomic(path, kept.map((l) => `${l}\n`).join(''));
  }

  has(name: string): boolean {
    return existsSync(this.file(name));
  }
}
