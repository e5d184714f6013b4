// Sum and Mean over the leading axes (BatchNorm's statistics and gradients reduce NHWC over
// N, H, W) for the wasm backend. The stock kernels first transpose the whole tensor so that the
// reduced axes are innermost, then sum each row; here every row of C values is added onto C
// float32 accumulators in the same order, so the results are bit-identical without the copy.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Info = tf.TensorInfo;

/**
 * Null unless x is float32 and the axes are exactly [0, …, k) in that order with k < rank (the
 * stock kernel then runs: it sums in the order the axes are given).
 */
export function leadingReduceWasm(backend: BackendWasm, x: Info, axis: number | number[], keepDims: boolean, mean: boolean): Info | null {
  if (x.dtype !== 'float32') return null;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape);
  if (axes.length === 0 || axes.length >= rank || axes.some((a, i) => a !== i)) return null;
  const rows = x.shape.slice(0, axes.length).reduce((p, q) => p * q, 1);
  const inner = x.shape.slice(axes.length);
  const width = inner.reduce((p, q) => p * q, 1);
  if (rows === 0 || width === 0) return null;
  const out = backend.makeOutput(keepDims ? [...axes.map(() => 1), ...inner] : inner, 'float32');
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const acc = backend.typedArrayFromHeap(out) as Float32Array;
  acc.fill(0);
  // Each += rounds to float32 on the store, exactly like the wasm kernel's float accumulator.
  for (let r = 0, o = 0; r < rows; r++, o += width) {
    for (let j = 0; j < width; j++) acc[j] += src[o + j]!;
  }
  if (mean) for (let j = 0; j < width; j++) acc[j] /= rows;
  return out;
}
