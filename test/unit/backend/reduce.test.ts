// The wasm Sum/Mean (leading axes), LeakyRelu and Identity replacements against the stock wasm
// kernels: bit-identical results, and clones that share a buffer without tying their lifetimes.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerFastWasmKernels, selectBackend, unregisterFastWasmKernels } from '../../../src/backend/index.js';

beforeAll(async () => {
  expect((await selectBackend('wasm')).name).toBe('wasm');
});

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 10;
  }
  return out;
}

const CASES: { shape: number[]; axis: number | number[] }[] = [
  { shape: [64, 16, 16, 8], axis: [0, 1, 2] },
  { shape: [5, 7, 3, 4], axis: [0, 1] },
  { shape: [5, 7, 3, 4], axis: 0 },
  { shape: [5, 7, 3, 4], axis: [-4, -3, -2] },
  { shape: [5, 7, 3, 4], axis: [1, 0] }, // leading but out of order: the stock kernel runs
  { shape: [5, 7, 3, 4], axis: [1, 2] }, // not leading: the stock kernel runs
  { shape: [6, 9], axis: [0, 1] }, // everything: the stock kernel runs
];

describe('wasm Sum and Mean over leading axes', () => {
  for (const { shape, axis } of CASES) {
    for (const keepDims of [false, true]) {
      it(`equal the stock kernels bit for bit: [${shape}] axis ${JSON.stringify(axis)} keepDims ${keepDims}`, () => {
        const x = tf.tensor(values(shape.reduce((a, b) => a * b), shape.length * 31 + shape[0]!), shape);
        const run = () => [tf.sum(x, axis, keepDims), tf.mean(x, axis, keepDims)].map((t) => {
          const r = { shape: t.shape, data: t.dataSync() };
          t.dispose();
          return r;
        });
        const fast = run();
        unregisterFastWasmKernels();
        let stock;
        try {
          stock = run();
        } finally {
          registerFastWasmKernels();
        }
        x.dispose();
        for (let i = 0; i < 2; i++) {
          expect(fast[i]!.shape).toEqual(stock[i]!.shape);
          expect(Array.from(fast[i]!.data)).toEqual(Array.from(stock[i]!.data));
        }
      });
    }
  }
});

describe('wasm LeakyRelu', () => {
  it('equals the stock kernel bit for bit', () => {
    const special = [0, -0, Infinity, -Infinity, NaN, 1e-45, -1e-45, 3.4e38, -3.4e38];
    const x = tf.tensor([...special, ...values(4099, 7)], [4099 + special.length]);
    const run = (alpha: number) => tf.tidy(() => Array.from(tf.leakyRelu(x, alpha).dataSync()));
    const alphas = [0.2, 0.01, 1 / 3, 1.5, 1e-30];
    const fast = alphas.map(run);
    unregisterFastWasmKernels();
    let stock;
    try {
      stock = alphas.map(run);
    } finally {
      registerFastWasmKernels();
    }
    x.dispose();
    // Compare bits: toEqual treats 0 and -0 as different but NaN as equal, which is what we want.
    expect(fast).toEqual(stock);
    expect(fast[0]!.some((v) => v < 0)).toBe(true);
  });
});

describe('wasm Identity', () => {
  it('shares the buffer, and each tensor keeps it alive on its own', () => {
    const before = tf.memory().numDataBuffers;
    const a = tf.tensor([1, 2, 3]);
    const b = a.clone();
    expect(tf.memory().numDataBuffers - before).toBe(1); // one buffer for both
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    b.dispose();
    expect(tf.memory().numDataBuffers).toBe(before);
  });

  it('leaves string tensors to the stock kernel', () => {
    const s = tf.tensor(['a', 'b']);
    const c = s.clone();
    expect(c.dataSync()).toEqual(['a', 'b']);
    tf.dispose([s, c]);
  });
});
