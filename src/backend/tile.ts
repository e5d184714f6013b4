// Tile for the wasm backend. The stock kernel computes a source index per element (~60 ms for
// the 1M-element broadcasts that tf.batchNorm's gradient tiles at batch 64); here each source
// row is copied once and every repetition is a doubling memcpy (copyWithin) on the wasm heap.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Info = tf.TensorInfo;
type Heap = Float32Array | Int32Array | Uint8Array;

/** Fills dst[at … at + len·times) with `times` copies of its first `len` elements, doubling each step. */
function repeatBlock(dst: Heap, at: number, len: number, times: number): void {
  let filled = len;
  const total = len * times;
  while (filled < total) {
    const n = Math.min(filled, total - filled);
    dst.copyWithin(at + filled, at, at + n);
    filled += n;
  }
}

/** Null for dtypes that do not live on the wasm heap as plain numbers (strings, complex). */
export function tileWasm(backend: BackendWasm, x: Info, reps: number[]): Info | null {
  if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') return null;
  const out = backend.makeOutput(x.shape.map((d, i) => d * reps[i]!), x.dtype);
  if (out.shape.some((d) => d === 0)) return out;
  // A dimension that is not repeated extends the contiguous run of the one before it.
  const shape: number[] = [];
  const times: number[] = [];
  x.shape.forEach((d, i) => {
    if (shape.length > 0 && reps[i] === 1) shape[shape.length - 1] *= d;
    else {
      shape.push(d);
      times.push(reps[i]!);
    }
  });
  const dst = backend.typedArrayFromHeap(out) as Heap;
  const src = backend.typedArrayFromHeap(x) as Heap;
  if (shape.length === 0) {
    dst.set(src);
    return out;
  }
  const rank = shape.length;
  const inStrides = tf.util.computeStrides(shape).concat(1);
  const outStrides = tf.util.computeStrides(shape.map((d, i) => d * times[i]!)).concat(1);
  // Writes x's slab at dimension d (source offset s) to the output at offset o, tiled along d and below.
  const fill = (d: number, s: number, o: number): void => {
    const n = shape[d]!;
    if (d === rank - 1) {
      dst.set(src.subarray(s, s + n), o);
    } else {
      for (let i = 0; i < n; i++) fill(d + 1, s + i * inStrides[d]!, o + i * outStrides[d]!);
    }
    repeatBlock(dst, o, n * outStrides[d]!, times[d]!);
  };
  fill(0, 0, 0);
  return out;
}
