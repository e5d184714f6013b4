// The fused training kernels, registered for tfjs's 'wasm' and 'cpu' backends (and, in WGSL, for
// 'webgpu': webgpu-kernels.ts): one kernel for
// BatchNorm (batch statistics) + activation, one for its gradient, one for an activation's
// gradient, one Adam update over every parameter of an optimizer, one moving-average update per
// BatchNorm layer. Each replaces a chain of 5–20 small kernels (and their engine and tape
// bookkeeping). Other backends (tensorflow, webgl) have none of these names registered, and ops.ts
// falls back to the unfused tf ops there.
import * as tf from '@tensorflow/tfjs';
import {
  activationBackward, adamUpdate, bnActBackward, bnActForward, bnMovingUpdate, type AdamHyper,
} from './math.js';
import { WEBGPU_FUSED_KERNELS } from './webgpu-kernels.js';

/** The heavy loops of the fused kernels; the native addon offers multi-threaded ones for 'wasm'. */
export interface FusedMath {
  bnActForward: typeof bnActForward;
  bnActBackward: typeof bnActBackward;
  activationBackward: typeof activationBackward;
  adamUpdate: typeof adamUpdate;
}
const JS_MATH: FusedMath = { bnActForward, bnActBackward, activationBackward, adamUpdate };
let wasmMath: FusedMath | null = null;

/** Routes the wasm backend's fused kernels through `math` (null: back to the JavaScript loops). */
export function setFusedAccelerator(math: FusedMath | null): void {
  wasmMath = math;
}

export const FUSED_BN_ACT = 'GanomalyBatchNormAct';
export const FUSED_BN_ACT_GRAD = 'GanomalyBatchNormActGrad';
export const FUSED_ACT_GRAD = 'GanomalyActivationGrad';
export const FUSED_ADAM = 'GanomalyAdam';
export const FUSED_BN_MOVING = 'GanomalyBatchNormMoving';
export const FUSED_KERNEL_NAMES = [FUSED_BN_ACT, FUSED_BN_ACT_GRAD, FUSED_ACT_GRAD, FUSED_ADAM, FUSED_BN_MOVING] as const;

type Info = tf.TensorInfo;

/** How a kernel reaches tensor data on one backend: allocate every output first, then take views. */
interface Io {
  math: FusedMath;
  alloc(shape: number[]): Info;
  /** Valid until the next alloc on the wasm backend (a heap growth detaches older views). */
  view(t: Info): Float32Array;
}

interface WasmLike {
  makeOutput(shape: number[], dtype: 'float32'): Info;
  typedArrayFromHeap(t: Info): Float32Array;
}
interface CpuLike {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32', values?: Float32Array): Info;
}

const IO: Record<string, (backend: unknown) => Io> = {
  wasm: (backend) => {
    const b = backend as WasmLike;
    return { math: wasmMath ?? JS_MATH, alloc: (shape) => b.makeOutput(shape, 'float32'), view: (t) => b.typedArrayFromHeap(t) };
  },
  cpu: (backend) => {
    const b = backend as CpuLike;
    return {
      math: JS_MATH,
      alloc: (shape) => b.makeTensorInfo(shape, 'float32', new Float32Array(tf.util.sizeFromShape(shape))),
      view: (t) => b.data.get(t.dataId).values as Float32Array,
    };
  },
};

function requireFloat(name: string, infos: Info[]): void {
  for (const t of infos) if (t.dtype !== 'float32') throw new Error(`${name}: float32 tensors only, got ${t.dtype}`);
}

type Kernel = (io: Io, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => Info | Info[];

const bnAct: Kernel = (io, { x, gamma, beta }, attrs) => {
  requireFloat(FUSED_BN_ACT, [x!, gamma!, beta!]);
  const { epsilon, slope } = attrs as { epsilon: number; slope: number };
  const c = gamma!.shape[0]!;
  const y = io.alloc(x!.shape);
  const mean = io.alloc([c]);
  const variance = io.alloc([c]);
  io.math.bnActForward(io.view(x!), io.view(gamma!), io.view(beta!), epsilon, slope, io.view(y), io.view(mean), io.view(variance));
  return [y, mean, variance];
};

const bnActGrad: Kernel = (io, { dy, x, y, gamma, mean, variance }, attrs) => {
  requireFloat(FUSED_BN_ACT_GRAD, [dy!, x!, y!, gamma!, mean!, variance!]);
  const { epsilon, slope } = attrs as { epsilon: number; slope: number };
  const c = gamma!.shape[0]!;
  const dx = io.alloc(x!.shape);
  const dGamma = io.alloc([c]);
  const dBeta = io.alloc([c]);
  io.math.bnActBackward(
    io.view(dy!), io.view(x!), io.view(y!), io.view(gamma!), io.view(mean!), io.view(variance!), epsilon, slope,
    io.view(dx), io.view(dGamma), io.view(dBeta),
  );
  return [dx, dGamma, dBeta];
};

const actGrad: Kernel = (io, { dy, y }, attrs) => {
  requireFloat(FUSED_ACT_GRAD, [dy!, y!]);
  const dx = io.alloc(dy!.shape);
  io.math.activationBackward(io.view(dy!), io.view(y!), (attrs as { slope: number }).slope, io.view(dx));
  return dx;
};

/** Inputs p0…, g0…, m0…, v0… (count n); outputs p′0…, m′0…, v′0…. */
const adam: Kernel = (io, inputs, attrs) => {
  const { n, ...hyper } = attrs as unknown as AdamHyper & { n: number };
  const at = (k: string, i: number) => inputs[`${k}${i}`]!;
  const outs: Info[] = [];
  for (const k of ['p', 'm', 'v']) for (let i = 0; i < n; i++) outs.push(io.alloc(at(k, i).shape));
  for (let i = 0; i < n; i++) {
    requireFloat(FUSED_ADAM, [at('p', i), at('g', i), at('m', i), at('v', i)]);
    io.math.adamUpdate(
      io.view(at('p', i)), io.view(at('g', i)), io.view(at('m', i)), io.view(at('v', i)), hyper,
      io.view(outs[i]!), io.view(outs[n + i]!), io.view(outs[2 * n + i]!),
    );
  }
  return outs;
};

/** Inputs mean, variance, m0…, v0… (one batch mean and biased variance per pass); outputs mean′, variance′. */
const bnMoving: Kernel = (io, inputs, attrs) => {
  const { counts, momentum } = attrs as { counts: number[]; momentum: number };
  const c = inputs.mean!.shape[0]!;
  const meanOut = io.alloc([c]);
  const varOut = io.alloc([c]);
  bnMovingUpdate(
    io.view(inputs.mean!), io.view(inputs.variance!),
    counts.map((_, i) => io.view(inputs[`m${i}`]!)), counts.map((_, i) => io.view(inputs[`v${i}`]!)),
    counts, momentum, io.view(meanOut), io.view(varOut),
  );
  return [meanOut, varOut];
};

const KERNELS: Record<(typeof FUSED_KERNEL_NAMES)[number], Kernel> = {
  [FUSED_BN_ACT]: bnAct,
  [FUSED_BN_ACT_GRAD]: bnActGrad,
  [FUSED_ACT_GRAD]: actGrad,
  [FUSED_ADAM]: adam,
  [FUSED_BN_MOVING]: bnMoving,
};

/** Backends the fused kernels are written for. */
export const FUSED_BACKENDS = [...Object.keys(IO), 'webgpu'];

/** Registers every fused kernel for 'wasm', 'cpu' and 'webgpu' (idempotent; the backends need not exist yet). */
export function registerFusedKernels(): void {
  for (const kernelName of FUSED_KERNEL_NAMES) {
    if (tf.getKernel(kernelName, 'webgpu') !== undefined) continue;
    tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc: WEBGPU_FUSED_KERNELS[kernelName]! });
  }
  for (const backendName of Object.keys(IO)) {
    for (const [kernelName, k] of Object.entries(KERNELS)) {
      if (tf.getKernel(kernelName, backendName) !== undefined) continue;
      const io = IO[backendName]!;
      tf.registerKernel({
        kernelName,
        backendName,
        kernelFunc: ({ inputs, attrs, backend }) => k(io(backend), inputs, attrs ?? {}) as tf.TensorInfo,
      });
    }
  }
}
