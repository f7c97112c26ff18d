// Runs the CLI from source through tsx (tests and development): node --import tsx scripts/camrec-dev.mts ...
import { main } from '../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
