// Sum and Mean over the leading axes (BatchNorm's statistics and gradients reduce NHWC over
// N, H, W) for the wasm backend. The stock kernels first transpose the whole tensor so that the
// reduced axes are innermost, then sum each row; here every row of C values is added onto C
// float32 accumulators in the same order, so the results are bit-identical without the copy.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Info = tf.TensorInfo;

export interface LeadingReduce {
  /** Rows (the product of the reduced axes) and width (the product of the kept ones). */
  rows: number;
  width: number;
  outShape: number[];
}

/**
 * The reduction as rows × width, or null unless x is float32 and the axes are exactly [0, …, k)
 * in that order with k < rank (the stock kernel then runs: it sums in the order the axes are given).
 */
export function leadingReduceOf(x: Info, axis: number | number[], keepDims: boolean): LeadingReduce | null {
  if (x.dtype !== 'float32') return null;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape);
  if (axes.length === 0 || axes.length >= rank || axes.some((a, i) => a !== i)) return null;
  const rows = x.shape.slice(0, axes.length).reduce((p, q) => p * q, 1);
  const inner = x.shape.slice(axes.length);
  const width = inner.reduce((p, q) => p * q, 1);
  if (rows === 0 || width === 0) return null;
  return { rows, width, outShape: keepDims ? [...axes.map(() => 1), ...inner] : inner };
}

export function leadingReduceWasm(backend: BackendWasm, x: Info, axis: number | number[], keepDims: boolean, mean: boolean): Info | null {
  const r = leadingReduceOf(x, axis, keepDims);
  if (r === null) return null;
  const { rows, width } = r;
  const out = backend.makeOutput(r.outShape, 'float32');
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const acc = backend.typedArrayFromHeap(out) as Float32Array;
  acc.fill(0);
  // Each += rounds to float32 on the store, exactly like the wasm kernel's float accumulator.
  for (let i = 0, o = 0; i < rows; i++, o += width) {
    for (let j = 0; j < width; j++) acc[j] += src[o + j]!;
  }
  if (mean) for (let j = 0; j < width; j++) acc[j] /= rows;
  return out;
}
