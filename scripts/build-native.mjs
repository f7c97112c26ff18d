#!/usr/bin/env node
// Builds the optional native kernels (binding.gyp -> build/Release/camrec_native.node) with the node-gyp that
// ships inside npm; the package's "install" script, so `npm ci` runs it. It never fails the install: when the
// build or a smoke load fails it prints one warning line, keeps the log in build/native-build.log, removes any
// half-built addon, and exits 0, and camrec runs on its TypeScript/wasm kernels. CAMREC_NATIVE=0 skips it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const addon = join(root, 'build', 'Release', 'camrec_native.node');
const log = join(root, 'build', 'native-build.log');
const BUILD_TIMEOUT_MS = 10 * 60 * 1000;

/** node-gyp's entry point: npm's own (as npm passes it, or beside npm), else one installed locally. */
function findNodeGyp() {
  const env = process.env;
  const tail = join('node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const nodeDir = dirname(realpathSync(process.execPath));
  const candidates = [
    env.npm_config_node_gyp,
    env.npm_execpath && join(dirname(env.npm_execpath), '..', tail),
    join(nodeDir, '..', 'lib', 'node_modules', 'npm', tail),
    join(nodeDir, 'node_modules', 'npm', tail),
  ];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  return candidates.find((c) => c && existsSync(c));
}

/**
 * Headers installed beside this node (e.g. /usr/include/node for /usr/bin/node), when npm has not named a
 * nodedir: node-gyp would otherwise try to download them.
 */
function localNodeDir() {
  if (process.env.npm_config_nodedir) return undefined;
  const prefix = dirname(dirname(realpathSync(process.execPath)));
  try {
    const header = readFileSync(join(prefix, 'include', 'node', 'node_version.h'), 'utf8');
    const part = (name) => header.match(new RegExp(`#define NODE_${name}_VERSION (\\d+)`))?.[1];
    const version = `v${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
    return version === process.version ? prefix : undefined;
  } catch {
    return undefined;
  }
}

/** The line of a failed build's output that says why: a compiler error, else node-gyp's own, else make's. */
function failureReason(output, status) {
  const lines = output.split('\n');
  const line =
    lines.find((l) => /: (fatal )?error: /.test(l)) ??
    lines.find((l) => l.startsWith('gyp ERR! stack Error: '))?.slice('gyp ERR! stack '.length) ??
    lines.find((l) => l.startsWith('make: ***'));
  return line?.trim() ?? `node-gyp exited with status ${status}`;
}

function writeLog(text) {
  mkdirSync(dirname(log), { recursive: true });
  writeFileSync(log, text);
}

function unavailable(reason) {
  rmSync(addon, { force: true });
  console.warn(
    `camrec: optional native kernels unavailable (${reason}); using the TypeScript/wasm kernels. Log: ${relative(root, log)}`,
  );
  process.exit(0);
}

function build() {
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) {
    writeLog('node-gyp not found beside npm or in node_modules\n');
    return unavailable('node-gyp not found');
  }
  const nodedir = localNodeDir();
  const args = [nodeGyp, 'rebuild', '--release', '--jobs=max', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  const run = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: BUILD_TIMEOUT_MS });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
  writeLog(`$ ${process.execPath} ${args.join(' ')}\n${output}${run.error ? `\n${run.error.message}\n` : ''}`);
  if (run.error || run.status !== 0) return unavailable(run.error?.message ?? failureReason(output, run.status));
  // Load it in a child, so that even a crash (say, an illegal instruction) cannot take the install down.
  const smoke = `const m = require(${JSON.stringify(addon)}); console.log(m.isa())`;
  const probe = spawnSync(process.execPath, ['-e', smoke], { encoding: 'utf8', timeout: 60_000 });
  if (probe.status !== 0) {
    writeLog(`${readFileSync(log, 'utf8')}\nsmoke load failed:\n${probe.stderr ?? ''}${probe.error?.message ?? ''}\n`);
    return unavailable('the built addon does not load');
  }
  console.log(`camrec: native kernels built (${relative(root, addon)}, ${probe.stdout.trim()})`);
}

if (process.env.CAMREC_NATIVE === '0') console.log('camrec: CAMREC_NATIVE=0, optional native kernels not built');
else build();
