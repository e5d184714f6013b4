// Training ops over the fused kernels, with hand-written gradients (tf.customGrad): one kernel
// forward and one backward per BatchNorm + activation block instead of tfjs's moments, batchNorm,
// activation and their ~20 gradient kernels. On a backend without the fused kernels (tfjs-node,
// webgpu, webgl) the callers keep the unfused tf ops: fusedKernelsActive() says which applies.
import * as tf from '@tensorflow/tfjs';
import {
  FUSED_ACT_GRAD, FUSED_ADAM, FUSED_BN_ACT, FUSED_BN_ACT_GRAD, FUSED_BN_MOVING, registerFusedKernels,
} from './kernels.js';
import type { AdamHyper } from './math.js';
import { isWebGpuBackendLike } from './webgpu-dispatch.js';

registerFusedKernels();

let enabled = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.GANOMALY_FUSED !== '0';

/** Turns the fused training kernels on or off (env GANOMALY_FUSED=0 starts with them off): for comparisons. */
export function setFusedKernels(on: boolean): void {
  enabled = on;
}

/** True when training on the current backend runs the fused kernels. */
export function fusedKernelsActive(): boolean {
  const name = tf.getBackend();
  if (!enabled || tf.getKernel(FUSED_BN_ACT, name) === undefined) return false;
  // The WGSL kernels record through tfjs-backend-webgpu 4.22's members: with another version the
  // step keeps the unfused ops rather than failing in its first kernel.
  return name !== 'webgpu' || isWebGpuBackendLike(tf.backend());
}

/** The fused parts a comparison can turn off one at a time: env GANOMALY_FUSED_OFF=adam|bnact|moving. */
export const FUSED_PARTS = ['adam', 'bnact', 'moving'] as const;
export type FusedPart = (typeof FUSED_PARTS)[number];

/**
 * fusedKernelsActive() for one part: Adam's update, BatchNorm + activation (forward and gradient),
 * or the BatchNorm moving averages. For finding which part moves a result; training uses all three.
 */
export function fusedPartActive(part: FusedPart): boolean {
  const off = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.GANOMALY_FUSED_OFF;
  if (off && !(FUSED_PARTS as readonly string[]).includes(off)) throw new RangeError(`GANOMALY_FUSED_OFF must be one of ${FUSED_PARTS.join(', ')}; got '${off}'`);
  return fusedKernelsActive() && off !== part;
}

const run = (name: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>) =>
  tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];

/**
 * tfjs frees a forward pass's intermediates before the backward pass runs, except what a gradient
 * saves (customGrad's `save` clones, one Identity kernel each). The fused ops keep their inputs
 * and outputs instead and hand them to `hold`; the owner frees them after the gradients (a
 * gradient that never runs, e.g. D on real images in G's pass, would otherwise leak them).
 */
export type Hold = (tensors: tf.Tensor[]) => void;

/**
 * Training-mode BatchNorm (batch mean and biased variance, as nn.BatchNorm2d) followed by an
 * activation with negative slope `slope` (LeakyReLU α, ReLU 0, none 1). The batch statistics go
 * to `onStats` (kept; the caller frees them), outside the gradient.
 */
export function batchNormActivation(
  x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number, slope: number,
  onStats: (mean: tf.Tensor1D, variance: tf.Tensor1D) => void, hold: Hold,
): tf.Tensor4D {
  const attrs = { epsilon, slope };
  const op = tf.customGrad((xIn, gIn, bIn) => {
    const [y, mean, variance] = run(FUSED_BN_ACT, { x: xIn as tf.Tensor, gamma: gIn as tf.Tensor, beta: bIn as tf.Tensor }, attrs) as tf.Tensor[];
    onStats(tf.keep(mean!) as tf.Tensor1D, tf.keep(variance!) as tf.Tensor1D);
    hold([tf.keep(xIn as tf.Tensor), tf.keep(y!)]);
    return {
      value: y as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor) => run(
        FUSED_BN_ACT_GRAD, { dy, x: xIn as tf.Tensor, y: y!, gamma: gIn as tf.Tensor, mean: mean!, variance: variance! }, attrs,
      ) as tf.Tensor[],
    };
  });
  return op(x, gamma, beta) as tf.Tensor4D;
}

/** LeakyReLU (or ReLU) with a one-kernel gradient read off its output. */
export function leakyReluFused(x: tf.Tensor4D, slope: number, hold: Hold): tf.Tensor4D {
  const op = tf.customGrad((xIn) => {
    const y = slope === 0 ? tf.relu(xIn as tf.Tensor) : tf.leakyRelu(xIn as tf.Tensor, slope);
    hold([tf.keep(y)]);
    return {
      value: y as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor) => run(FUSED_ACT_GRAD, { dy, y }, { slope }) as tf.Tensor,
    };
  });
  return op(x) as tf.Tensor4D;
}

/** One Adam step over all of `params` (one kernel); moments and parameters are replaced in place. */
export function adamFused(params: tf.Variable[], grads: tf.Tensor[], m: tf.Variable[], v: tf.Variable[], h: AdamHyper): void {
  const n = params.length;
  const inputs: tf.NamedTensorMap = {};
  for (let i = 0; i < n; i++) {
    inputs[`p${i}`] = params[i]!;
    inputs[`g${i}`] = grads[i]!;
    inputs[`m${i}`] = m[i]!;
    inputs[`v${i}`] = v[i]!;
  }
  const outs = run(FUSED_ADAM, inputs, { ...h, n }) as tf.Tensor[];
  const targets = [...params, ...m, ...v];
  outs.forEach((t, i) => {
    targets[i]!.assign(t);
    t.dispose();
  });
}

/** Folds several passes' batch statistics (in order) into one layer's moving mean and variance. */
export function batchNormMovingFused(
  mean: tf.Variable, variance: tf.Variable, batch: { mean: tf.Tensor1D; variance: tf.Tensor1D; count: number }[], momentum: number,
): void {
  const inputs: tf.NamedTensorMap = { mean, variance };
  batch.forEach((s, i) => {
    inputs[`m${i}`] = s.mean;
    inputs[`v${i}`] = s.variance;
  });
  const [m, v] = run(FUSED_BN_MOVING, inputs, { counts: batch.map((s) => s.count), momentum }) as tf.Tensor[];
  mean.assign(m!);
  variance.assign(v!);
  tf.dispose([m!, v!]);
}
