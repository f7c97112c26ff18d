/** `camrec report <run>`: a run's report.html, finished or still training (src/report/run-report.ts). */
import { writeRunReport } from '../report/run-report.js';

export function reportCommand(run: string, opts: Record<string, unknown>): number {
  const out = typeof opts.out === 'string' ? writeRunReport(run, opts.out) : writeRunReport(run);
  process.stdout.write(`${out}\n`);
  return 0;
}
