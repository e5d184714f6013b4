// Registers faster training kernels for tfjs's 'wasm' backend. It ships no Conv2DBackpropFilter
// at all, a scalar-loop Conv2DBackpropInput (which is also what conv2dTranspose's forward runs)
// and a per-element-index Tile (hot in tf.batchNorm's gradient). The conv replacements run on the
// backend's XNNPACK Conv2D and matmul; Tile becomes memcpy on the wasm heap; Sum and Mean over
// the leading axes skip the stock kernels' full transpose; Identity shares instead of copying;
// LeakyRelu is one loop over the heap. All three convolution
// kernels first offer the case to an optional accelerator (oneDNN, see native-kernels.ts).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { conv2dBackpropFilterWasm } from './conv-backprop-filter.js';
import { conv2dBackpropInputWasm } from './conv-backprop-input.js';
import { leadingReduceWasm } from './leading-reduce.js';
import { leakyReluWasm } from './leaky-relu.js';
import { tileWasm } from './tile.js';

const BACKEND = 'wasm';

/** A replacement returns null for a case it does not cover; the stock kernel then runs. */
type Replacement = (backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => tf.TensorInfo | null;

/**
 * Faster kernels tried before the replacements (the optional oneDNN addon, native-kernels.ts);
 * null from one means "not covered here". Kept behind the same registered functions so the
 * wasm kernels stay the fallback for every case.
 */
export type ConvAccelerator = Partial<Record<'Conv2D' | 'Conv2DBackpropInput' | 'Conv2DBackpropFilter' | 'Sum' | 'Mean' | 'LeakyRelu', Replacement>>;
let accelerator: ConvAccelerator | null = null;

export function setConvAccelerator(a: ConvAccelerator | null): void {
  accelerator = a;
}

function convInfoOf(xShape: number[], filterShape: number[], attrs: tf.NamedAttrMap): tf.backend_util.Conv2DInfo {
  const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    strides, 1, pad, dimRoundingMode, false, tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
}

const REPLACEMENTS: Record<string, Replacement> = {
  // The stock XNNPACK Conv2D unless an accelerator covers the case.
  Conv2D: () => null,
  Conv2DBackpropFilter: (backend, { x, dy }, attrs) => {
    const { filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    return conv2dBackpropFilterWasm(backend, x!, dy!, convInfoOf(x!.shape, filterShape, attrs));
  },
  Conv2DBackpropInput: (backend, { dy, filter }, attrs) => {
    const { inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    return conv2dBackpropInputWasm(backend, dy!, filter!, convInfoOf(inputShape, filter!.shape, attrs));
  },
  Tile: (backend, { x }, attrs) => tileWasm(backend, x!, (attrs as unknown as tf.TileAttrs).reps),
  Sum: (backend, { x }, attrs) => {
    const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
    return leadingReduceWasm(backend, x!, axis, keepDims, false);
  },
  Mean: (backend, { x }, attrs) => {
    const { axis, keepDims } = attrs as unknown as tf.MeanAttrs;
    return leadingReduceWasm(backend, x!, axis, keepDims, true);
  },
  LeakyRelu: (backend, { x }, attrs) => leakyReluWasm(backend, x!, (attrs as unknown as tf.LeakyReluAttrs).alpha),
  // The stock kernel copies; tensors are immutable, so share the buffer (as the cpu backend does).
  Identity: (backend, { x }) => {
    if (x!.dtype === 'string') return null;
    backend.incRef(x!.dataId);
    return { dataId: x!.dataId, shape: x!.shape, dtype: x!.dtype };
  },
};

const stock = new Map<string, tf.KernelConfig>();
/** Backends on which a stock kernel's setup (its wasm function binding) has run. */
const setUp = new Map<string, WeakSet<object>>();

/** Stock kernels only get their setup when registered at backend start; re-registered ones need it here. */
function setUpStock(name: string, backend: object): void {
  const k = stock.get(name);
  if (k?.setupFunc === undefined) return;
  let done = setUp.get(name);
  if (done === undefined) setUp.set(name, (done = new WeakSet()));
  if (!done.has(backend)) {
    k.setupFunc(backend);
    done.add(backend);
  }
}

const kernelFuncs = new Map<string, tf.KernelFunc>(Object.entries(REPLACEMENTS).map(([name, replace]) => [
  name,
  (args: Parameters<tf.KernelFunc>[0]) => {
    const fast = accelerator?.[name as keyof ConvAccelerator];
    const accelerated = fast?.(args.backend as BackendWasm, args.inputs, args.attrs ?? {}) ?? null;
    if (accelerated !== null) return accelerated;
    const out = replace(args.backend as BackendWasm, args.inputs, args.attrs ?? {});
    if (out !== null) return out;
    const k = stock.get(name);
    if (k === undefined) throw new Error(`wasm backend: no ${name} kernel for this case`);
    setUpStock(name, args.backend);
    return k.kernelFunc(args);
  },
]));

/** True when the replacements are the kernels tfjs will run for 'wasm'. */
export function fastWasmKernelsRegistered(): boolean {
  return [...kernelFuncs].every(([name, f]) => tf.getKernel(name, BACKEND)?.kernelFunc === f);
}

/** Installs the replacement kernels for 'wasm'; calling it again is a no-op. */
export function registerFastWasmKernels(): void {
  const live = tf.engine().registry[BACKEND];
  for (const [name, f] of kernelFuncs) {
    const current = tf.getKernel(name, BACKEND);
    if (current?.kernelFunc === f) continue;
    if (current !== undefined) {
      stock.set(name, current);
      // Its setup already ran if the backend exists; otherwise the fallback runs it lazily.
      if (live !== undefined) {
        if (!setUp.has(name)) setUp.set(name, new WeakSet());
        setUp.get(name)!.add(live);
      }
      tf.unregisterKernel(name, BACKEND);
    }
    tf.registerKernel({ kernelName: name, backendName: BACKEND, kernelFunc: f });
  }
}

/** Restores the stock kernels (for comparisons); a no-op when the replacements are not installed. */
export function unregisterFastWasmKernels(): void {
  const live = tf.engine().registry[BACKEND];
  for (const [name, f] of kernelFuncs) {
    if (tf.getKernel(name, BACKEND)?.kernelFunc !== f) continue;
    tf.unregisterKernel(name, BACKEND);
    const k = stock.get(name);
    if (k === undefined) continue;
    tf.registerKernel(k);
    if (live !== undefined) setUpStock(name, live);
  }
}
