/**
 * Our wasm kernels registered in place of tfjs's stock ones for the same op names (Identity, SplitV, AddN, Tile,
 * Sum, Mean, Tanh, Exp), with the stock kernel kept at hand for the inputs ours leave to it.
 */
import { getKernel } from '@tensorflow/tfjs';
import type { DataType, KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo, TypedArray } from '@tensorflow/tfjs';

/** What our wasm kernels use of the wasm backend: outputs on its heap, and heap views of tensors. */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): TypedArray;
}

/** A kernel function's argument. */
export interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}

export class StockKernels {
  private readonly stock = new Map<string, KernelConfig>();

  /** The configs of `ours` over the wasm kernels registered now (kept for `run`); [] without wasm. */
  configs<A>(ours: Readonly<Record<string, (args: A) => TensorInfo | TensorInfo[]>>): KernelConfig[] {
    const configs: KernelConfig[] = [];
    for (const [name, impl] of Object.entries(ours)) {
      const current = getKernel(name, 'wasm');
      if (!current) continue;
      if (current.kernelFunc !== (impl as unknown as KernelFunc)) this.stock.set(name, current);
      configs.push({ kernelName: name, backendName: 'wasm', setupFunc: current.setupFunc, kernelFunc: impl as unknown as KernelFunc });
    }
    return configs;
  }

  /** The stock kernel of `name` on `args`. */
  run(name: string, args: unknown): TensorInfo | TensorInfo[] {
    const config = this.stock.get(name);
    if (!config) throw new Error(`${name}: the stock wasm kernel is not registered`);
    return config.kernelFunc(args as Parameters<KernelFunc>[0]) as TensorInfo | TensorInfo[];
  }
}
