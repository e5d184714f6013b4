// Thin calls into the wasm backend's own registered kernels on raw TensorInfos. The replacement
// gradient kernels compose these instead of tf ops: nothing goes through the engine, so nothing
// is recorded on a gradient tape or tracked by a scope, and every intermediate is freed here.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Info = tf.TensorInfo;
type Attrs = Record<string, unknown>;

export type Pads4 = [[number, number], [number, number], [number, number], [number, number]];

/** Runs the wasm backend's registered kernel `name` (looked up at call time). */
function run(backend: BackendWasm, name: string, inputs: Record<string, Info>, attrs: Attrs): Info {
  const k = tf.getKernel(name, 'wasm');
  if (k === undefined) throw new Error(`wasm backend has no '${name}' kernel`);
  const out = k.kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend });
  return (Array.isArray(out) ? out[0] : out) as Info;
}

export function free(backend: BackendWasm, ...infos: Info[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

/** Stride-1 or dilated NHWC conv with explicit padding (XNNPACK underneath). */
export function conv2d(backend: BackendWasm, x: Info, filter: Info, pads: Pads4, dilation: [number, number]): Info {
  return run(backend, 'Conv2D', { x, filter }, {
    strides: [1, 1], pad: pads, dataFormat: 'NHWC', dilations: dilation, dimRoundingMode: undefined,
  });
}

export function transpose(backend: BackendWasm, x: Info, perm: number[]): Info {
  return run(backend, 'Transpose', { x }, { perm });
}

/** Shares the data of `x` (the backend counts the reference), so free the result like any other. */
export function reshape(backend: BackendWasm, x: Info, shape: number[]): Info {
  return run(backend, 'Reshape', { x }, { shape });
}

export function slice(backend: BackendWasm, x: Info, begin: number[], size: number[]): Info {
  return run(backend, 'Slice', { x }, { begin, size });
}

/** Plain (untransposed) matmul: the only BatchMatMul variant the wasm backend runs through XNNPACK. */
export function matMul(backend: BackendWasm, a: Info, b: Info): Info {
  return run(backend, 'BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
}

/** A fresh float32 tensor on the wasm heap and a view on its data (valid until the next allocation). */
export function alloc(backend: BackendWasm, shape: number[]): { info: Info; data: Float32Array } {
  const info = backend.makeOutput(shape, 'float32');
  return { info, data: backend.typedArrayFromHeap(info) as Float32Array };
}

export function view(backend: BackendWasm, x: Info): Float32Array {
  return backend.typedArrayFromHeap(x) as Float32Array;
}
