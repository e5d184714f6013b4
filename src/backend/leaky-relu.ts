// LeakyRelu for the wasm backend as one loop over the heap: the stock kernel measured 2-3x
// slower. The loop is branchless: with random signs a branch mispredicts half the time (8 ms per
// 1M elements against 2 ms). Results equal the stock kernel's float32 `x < 0 ? α·x : x` bit for
// bit: the factor is exactly α or 1, and the double product of two floats is exact before the
// store rounds it to float32.
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export function leakyReluWasm(backend: BackendWasm, x: tf.TensorInfo, alpha: number): tf.TensorInfo | null {
  if (x.dtype !== 'float32') return null;
  const a = Math.fround(alpha);
  const aMinus1 = a - 1;
  // 1 + (α − 1) must give α back exactly (true unless α is tiny); otherwise the stock kernel runs.
  if (1 + aMinus1 !== a) return null;
  const out = backend.makeOutput(x.shape, 'float32');
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const v = src[i]!;
    dst[i] = v * (1 + Number(v < 0) * aMinus1);
  }
  return out;
}
