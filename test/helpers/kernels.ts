// Shared by the kernel tests (wasm replacements, oneDNN addon): seeded inputs, error measure, direct kernel calls.
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';

/** Deterministic pseudo-random values in [-1, 1). */
export function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** max |a − b| / max |a|: the bound the kernels must meet is 1e-5. */
export function relErr(ref: ArrayLike<number>, got: ArrayLike<number>): number {
  expect(got.length).toBe(ref.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ref[i]! - got[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / (scale || 1);
}

/** Runs one registered kernel on the active backend and reads its output. */
export function runKernel(name: string, inputs: tf.NamedTensorMap, attrs: object): Float32Array {
  return tf.tidy(() => (tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor).dataSync() as Float32Array);
}
