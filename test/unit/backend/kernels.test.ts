// The wasm replacement kernels against the cpu backend's reference kernels, on random inputs
// covering every convolution shape class the GANomaly networks use, plus odd sizes and paddings.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { relErr, runKernel, values } from '../../helpers/kernels.js';
import { conv2dBackpropFilterWasm, type FilterGradMethod } from '../../../src/backend/conv-backprop-filter.js';
import { disableNativeConvKernels, fastWasmKernelsRegistered, registerFastWasmKernels, selectBackend } from '../../../src/backend/index.js';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface Case { h: number; w: number; k: number; s: number | [number, number]; pad: Pad; label: string }
type Shape4 = [number, number, number, number];

const CASES: Case[] = [
  { h: 16, w: 16, k: 4, s: 2, pad: 'same', label: 'conv 4x4 s2 same, even (pad 1,1)' },
  { h: 9, w: 7, k: 4, s: 2, pad: 'same', label: 'conv 4x4 s2 same, odd (asymmetric pad)' },
  { h: 4, w: 4, k: 4, s: 1, pad: 'valid', label: 'conv kxk s1 valid to 1x1 / convT from 1x1' },
  { h: 5, w: 6, k: 3, s: 1, pad: 'valid', label: 'conv 3x3 s1 valid' },
  { h: 7, w: 7, k: 3, s: 1, pad: 'same', label: 'conv 3x3 s1 same' },
  { h: 8, w: 8, k: 4, s: 2, pad: 1, label: 'numeric pad 1, s2' },
  { h: 11, w: 10, k: 3, s: 2, pad: 'valid', label: 's2 valid with unused last rows' },
  { h: 9, w: 9, k: 5, s: 3, pad: 'same', label: 'k5 s3 same' },
  { h: 6, w: 6, k: 2, s: 3, pad: 'valid', label: 'stride > kernel (phases with no taps)' },
  { h: 3, w: 3, k: 5, s: 2, pad: 2, label: 'pad larger than a stride' },
  { h: 8, w: 8, k: 3, s: 2, pad: [[0, 0], [2, 0], [1, 3], [0, 0]], label: 'explicit asymmetric pads' },
  { h: 9, w: 10, k: 3, s: [2, 3], pad: 'same', label: 'unequal strides' },
];
const BATCHES = [1, 5];
const CHANNELS: [number, number][] = [[1, 8], [3, 3], [8, 1], [8, 8]];

/** dX (Conv2DBackpropInput) and dW (Conv2DBackpropFilter) of one case on the active backend. */
function gradients(c: Case, n: number, ci: number, co: number, seed: number): { dx: Float32Array; dw: Float32Array; dyShape: Shape4 } {
  const xShape: Shape4 = [n, c.h, c.w, ci];
  const wShape: Shape4 = [c.k, c.k, ci, co];
  const info = tf.backend_util.computeConv2DInfo(xShape, wShape, c.s, 1, c.pad);
  const dyShape: Shape4 = [n, info.outHeight, info.outWidth, co];
  return tf.tidy(() => {
    const x = tf.tensor4d(values(n * c.h * c.w * ci, seed), xShape);
    const w = tf.tensor4d(values(c.k * c.k * ci * co, seed + 1), wShape);
    const dy = tf.tensor4d(values(dyShape.reduce((a, b) => a * b), seed + 2), dyShape);
    const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
    return {
      dx: runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: xShape }),
      dw: runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: wShape }),
      dyShape,
    };
  });
}

/** Conv2DBackpropFilter on wasm by one named formulation, bypassing the size heuristic. */
function filterGradBy(method: FilterGradMethod, c: Case, n: number, ci: number, co: number, seed: number, dyShape: Shape4): Float32Array {
  const xShape: Shape4 = [n, c.h, c.w, ci];
  const info = tf.backend_util.computeConv2DInfo(xShape, [c.k, c.k, ci, co], c.s, 1, c.pad);
  return tf.tidy(() => {
    const x = tf.tensor4d(values(n * c.h * c.w * ci, seed), xShape);
    const dy = tf.tensor4d(values(dyShape.reduce((a, b) => a * b), seed + 2), dyShape);
    const out = conv2dBackpropFilterWasm(tf.backend() as BackendWasm, x, dy, info, method);
    return tf.engine().makeTensorFromTensorInfo(out).dataSync() as Float32Array;
  });
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  const sel = await selectBackend('wasm');
  expect(sel.name).toBe('wasm');
  // This file tests the wasm kernels themselves, not the optional oneDNN addon that may sit in front.
  disableNativeConvKernels();
});

describe('wasm convolution-gradient kernels', () => {
  it('are installed by selectBackend, and registering again is a no-op', () => {
    expect(fastWasmKernelsRegistered()).toBe(true);
    registerFastWasmKernels();
    registerFastWasmKernels();
    expect(fastWasmKernelsRegistered()).toBe(true);
  });

  for (const c of CASES) {
    it(`match the cpu reference: ${c.label}`, async () => {
      let seed = 1;
      for (const n of BATCHES) {
        for (const [ci, co] of CHANNELS) {
          seed += 10;
          await tf.setBackend('cpu');
          const ref = gradients(c, n, ci, co, seed);
          await tf.setBackend('wasm');
          const got = gradients(c, n, ci, co, seed);
          const where = `batch ${n}, ${ci}→${co} channels`;
          expect(relErr(ref.dx, got.dx), `dX ${where}`).toBeLessThanOrEqual(1e-5);
          expect(relErr(ref.dw, got.dw), `dW ${where}`).toBeLessThanOrEqual(1e-5);
          for (const m of ['conv', 'im2col'] as const) {
            expect(relErr(ref.dw, filterGradBy(m, c, n, ci, co, seed, ref.dyShape)), `dW by ${m}, ${where}`).toBeLessThanOrEqual(1e-5);
          }
        }
      }
    });
  }

  it('give the same gradients as cpu through a conv → BN → convT network (tf.grads)', async () => {
    // GANomaly-like: conv 4x4 s2 'same', batch-statistics BatchNorm, LeakyReLU, convT back up.
    // (tf.batchNorm needs an explicit offset under tf.grads: an undefined input breaks the tape walk.)
    const net = (x: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor, g: tf.Tensor, beta: tf.Tensor): tf.Tensor => {
      const h = tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 2, 'same');
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      const b = tf.leakyRelu(tf.batchNorm(h, mean, variance, beta as tf.Tensor1D, g as tf.Tensor1D, 1e-5), 0.2);
      const y = tf.conv2dTranspose(b as tf.Tensor4D, w2 as tf.Tensor4D, [3, 10, 10, 2], 2, 'same');
      return tf.tanh(y).sub(x).square().mean();
    };
    const run = async (backend: string): Promise<Float32Array[]> => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const args = [
          tf.tensor4d(values(3 * 10 * 10 * 2, 5), [3, 10, 10, 2]),
          tf.tensor4d(values(4 * 4 * 2 * 6, 6), [4, 4, 2, 6]).mul(0.3),
          tf.tensor4d(values(4 * 4 * 2 * 6, 7), [4, 4, 2, 6]).mul(0.3),
          tf.tensor1d(values(6, 8)).add(1),
          tf.tensor1d(values(6, 9)).mul(0.1),
        ];
        return tf.grads((x, w1, w2, g, beta) => net(x!, w1!, w2!, g!, beta!))(args).map((t) => t.dataSync() as Float32Array);
      });
    };
    const ref = await run('cpu');
    const got = await run('wasm');
    ref.forEach((r, i) => expect(relErr(r, got[i]!), `gradient ${i}`).toBeLessThanOrEqual(1e-4));
  });

  it('replace Tile exactly for float32, int32 and bool', async () => {
    const cases: [number[], number[], 'float32' | 'int32' | 'bool'][] = [
      [[1, 1, 1, 8], [5, 4, 4, 1], 'float32'], [[3], [4], 'float32'], [[2, 3], [2, 2], 'int32'],
      [[2, 3, 4], [1, 1, 1], 'float32'], [[2, 1, 3], [3, 5, 2], 'bool'], [[4, 1], [1, 3], 'float32'],
      [[0, 2], [3, 1], 'float32'], [[2, 2, 2, 2, 2], [2, 1, 3, 1, 2], 'int32'],
    ];
    for (const [shape, reps, dtype] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Array.from({ length: n }, (_, i) => (dtype === 'bool' ? Number(i % 3 === 0) : (i * 7) % 11 - 5));
      const tile = async (backend: string): Promise<number[]> => {
        await tf.setBackend(backend);
        return tf.tidy(() => Array.from(tf.tile(tf.tensor(data, shape, dtype), reps).dataSync()));
      };
      expect(await tile('wasm'), `${dtype} ${shape} × ${reps}`).toEqual(await tile('cpu'));
    }
  });

  it('leak no tensors and no wasm memory', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    const tensors = tf.memory().numTensors;
    const buffers = backend.numDataIds();
    for (const c of [CASES[0]!, CASES[2]!, CASES[8]!, CASES[11]!]) gradients(c, 2, 3, 4, 99);
    for (const m of ['conv', 'im2col'] as const) filterGradBy(m, CASES[6]!, 2, 3, 4, 99, [2, 5, 4, 4]);
    tf.tidy(() => {
      const w = tf.variable(tf.tensor4d(values(4 * 4 * 3 * 4, 3), [4, 4, 3, 4]));
      const x = tf.tensor4d(values(2 * 8 * 8 * 3, 4), [2, 8, 8, 3]);
      tf.variableGrads(() => tf.conv2dTranspose(tf.conv2d(x, w, 2, 'same'), w, [2, 8, 8, 3], 2, 'same').mean() as tf.Scalar);
      w.dispose();
    });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(buffers);
  });
});
