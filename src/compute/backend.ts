/**
 * Backend selection (DESIGN.md §4): wasm with SIMD by default; `auto` takes tensorflow-gpu when it loads and
 * sees a GPU, then tensorflow, then wasm. The tensorflow packages are optional dependencies whose install may
 * have failed, so they are loaded by name at run time and their absence is a BackendError, not a crash.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../errors/index.js';
import { registerKernels } from './kernels/register.js';
import { computePool } from './pool.js';

export type BackendChoice = 'auto' | 'wasm' | 'tensorflow' | 'tensorflow-gpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'wasm', 'tensorflow', 'tensorflow-gpu'];

export interface BackendInfo {
  /** The tfjs backend now in use: 'wasm' or 'tensorflow'. */
  backend: string;
  /** Threads our kernels use (wasm), or the cores tensorflow may use. */
  threads: number;
  /** Whether tfjs runs its wasm SIMD build (false on the tensorflow backends). */
  simd: boolean;
}

type NativeChoice = 'tensorflow' | 'tensorflow-gpu';
const NATIVE_PACKAGE: Record<NativeChoice, string> = {
  tensorflow: '@tensorflow/tfjs-node',
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
};

/** The installed tfjs-backend-wasm's dist folder, where its .wasm files are. */
export function wasmDistDir(): string {
  const main = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
  return path.dirname(main) + path.sep;
}

async function initWasm(): Promise<BackendInfo> {
  const dir = wasmDistDir();
  if (tf.findBackend('wasm') === null) setWasmPaths(dir);
  if (!(await tf.setBackend('wasm'))) {
    throw new BackendError(`backend 'wasm' did not start: its .wasm files were not loaded from ${dir}; reinstall @tensorflow/tfjs-backend-wasm (npm ci)`);
  }
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
  const threads = await computePool().ready();
  return { backend: 'wasm', threads, simd };
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0];
}

async function loadNative(choice: NativeChoice): Promise<void> {
  const pkg = NATIVE_PACKAGE[choice];
  try {
    await import(pkg);
  } catch (err) {
    const missing = (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && firstLine(err).includes(`'${pkg}'`);
    const reason = missing ? `${pkg} is not installed` : `${pkg} did not load (${firstLine(err)})`;
    throw new BackendError(
      `backend '${choice}' is unavailable: ${reason}; install it with \`npm install ${pkg}\` (its install downloads libtensorflow), or use --backend wasm`,
      { cause: err },
    );
  }
}

async function initNative(choice: NativeChoice): Promise<BackendInfo> {
  await loadNative(choice);
  if (!(await tf.setBackend('tensorflow'))) {
    throw new BackendError(`backend '${choice}' did not start after ${NATIVE_PACKAGE[choice]} loaded; use --backend wasm`);
  }
  const usesGpu = (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
  if (choice === 'tensorflow-gpu' && !usesGpu) {
    throw new BackendError(`backend 'tensorflow-gpu' loaded but sees no GPU (CUDA and cuDNN must be installed); use --backend tensorflow or wasm`);
  }
  return { backend: 'tensorflow', threads: os.availableParallelism(), simd: false };
}

async function initAuto(): Promise<BackendInfo> {
  for (const choice of ['tensorflow-gpu', 'tensorflow'] as const) {
    try {
      return await initNative(choice);
    } catch (err) {
      if (!(err instanceof BackendError)) throw err;
    }
  }
  return initWasm();
}

/**
 * Selects and starts a tfjs backend and registers our kernels (idempotent). A backend asked for by name that
 * cannot start is a BackendError whose message says why and how to install it.
 */
export async function initBackend(choice: BackendChoice = 'wasm'): Promise<BackendInfo> {
  registerKernels();
  if (choice === 'auto') return initAuto();
  if (choice === 'wasm') return initWasm();
  return initNative(choice);
}
