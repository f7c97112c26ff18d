// Loaded with `node --import` into a benchmarked camrec command and, through its execArgv, into every child it starts
// (coordinator, workers, shards): at exit each process writes its own CPU time (user + system, all its threads) to
// $CAMREC_BENCH_CPU_DIR/<pid>.json with its role (the camrec command it runs). Plain JavaScript, so that it adds no
// loader to the measured processes. Measures only; without the variable it does nothing.
import { writeFileSync } from 'node:fs';
import process from 'node:process';
import { join } from 'node:path';

const dir = process.env.CAMREC_BENCH_CPU_DIR;
if (dir) {
  process.on('exit', () => {
    const r = process.resourceUsage();
    const line = { pid: process.pid, role: process.argv[2] ?? '', cpuSeconds: (r.userCPUTime + r.systemCPUTime) / 1e6 };
    try {
      writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(line));
    } catch {
      // The bench reports a process that wrote nothing as missing.
    }
  });
}
