/** `camrec compare`: runs side by side from their result files, and against a baseline paired by seed (src/report/compare.ts). */
import { ConfigError } from '../errors/index.js';
import { compareGroups, formatMarkdown, formatText, readGroups } from '../report/compare.js';

export async function compareCommand(runs: string[], opts: Record<string, unknown>): Promise<number> {
  const metrics = typeof opts.metrics === 'string' ? opts.metrics.split(',').map((m) => m.trim()).filter((m) => m.length > 0) : undefined;
  if (metrics !== undefined && metrics.length === 0) throw new ConfigError('--metrics: give one or more metric names, as recall@20,ndcg@20');
  if (opts.json && opts.markdown) throw new ConfigError('--json and --markdown: give one of them');
  const digits = typeof opts.digits === 'number' ? opts.digits : 4;
  if (!Number.isInteger(digits) || digits < 1 || digits > 10) throw new ConfigError(`--digits: an integer from 1 to 10, got ${String(opts.digits)}`);
  const groups = readGroups(runs, { poolDatasets: opts.poolDatasets === true });
  const c = compareGroups(groups, { ...(metrics ? { metrics } : {}), ...(typeof opts.baseline === 'string' ? { baseline: opts.baseline } : {}), paper: opts.paper === true });
  if (opts.json) process.stdout.write(`${JSON.stringify(c)}\n`);
  else process.stdout.write(opts.markdown ? formatMarkdown(c, digits) : formatText(c, digits));
  return 0;
}
