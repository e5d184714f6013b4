// The five fused training kernels in WGSL for tfjs's 'webgpu' backend (same names, inputs,
// attributes and outputs as the wasm/cpu kernels in kernels.ts). Dispatches per call:
//   GanomalyBatchNormAct      1  (a workgroup owns 4 channels: mean, then Σ(x − mean)², then y)
//   GanomalyBatchNormActGrad  2  (the same workgroup layout: Σg and Σg·(x − mean), then dx; a
//                                 one-thread-per-channel pass splits the sums into dγ and dβ —
//                                 one pass would need 9 storage bindings, the default limit is 8)
//   GanomalyActivationGrad    1
//   GanomalyAdam              1 per parameter tensor (p′, m′, v′ together: 4 inputs + 3 outputs)
//   GanomalyBatchNormMoving   ⌈passes/2⌉ (two passes' statistics per dispatch fit in 8 bindings)
// Per-channel sums are compensated (Kahan) per thread, then a tree over 64 lanes; the variance is
// a second pass over x − mean, never a float32 E[x²] − E[x]².
import type * as tf from '@tensorflow/tfjs';
import { adamConstants, type AdamHyper } from './math.js';
import { disposeTemp, grid1d, isWebGpuBackendLike, makeOutput, record, type WebGpuBackendLike } from './webgpu-dispatch.js';

type Info = tf.TensorInfo;

/** Channels per workgroup and lanes per channel of the per-channel kernels (4 × 64 = 256 threads). */
const TC = 4;
const LANES = 64;
const ELEMENTWISE = 256;

function backendOf(backend: unknown): WebGpuBackendLike {
  if (!isWebGpuBackendLike(backend)) {
    throw new Error('fused webgpu kernels: the backend lacks the tfjs-backend-webgpu 4.22 members they record through (another tfjs version?)');
  }
  return backend;
}

function requireFloat(name: string, infos: Info[]): void {
  for (const t of infos) if (t.dtype !== 'float32') throw new Error(`${name}: float32 tensors only, got ${t.dtype}`);
}

const rowsOf = (x: Info, c: number) => x.shape.reduce((p, q) => p * q, 1) / c;

/** Storage bindings: outputs read_write from 0, then inputs read-only; the uniform struct last. */
function bindings(outputs: string[], inputs: string[], uniform: string): string {
  const lines = [
    ...outputs.map((n, i) => `@group(0) @binding(${i}) var<storage, read_write> ${n}: array<f32>;`),
    ...inputs.map((n, i) => `@group(0) @binding(${outputs.length + i}) var<storage, read> ${n}: array<f32>;`),
    `struct U { ${uniform} };`,
    `@group(0) @binding(${outputs.length + inputs.length}) var<uniform> u: U;`,
  ];
  return lines.join('\n');
}

/**
 * Per-channel machinery: thread (lid.x, lid.y) handles channel wid.x·TC + lid.x and rows
 * lid.y, lid.y + LANES, …; `reduce2` sums two values over the lanes of each channel.
 */
const CHANNEL_TILE = /* wgsl */ `
const TC = ${TC}u;
const LANES = ${LANES}u;
var<workgroup> redA: array<f32, ${TC * LANES}>;
var<workgroup> redB: array<f32, ${TC * LANES}>;

struct Kahan { s: f32, c: f32 };
fn kadd(k: Kahan, v: f32) -> Kahan {
  let y = v - k.c;
  let t = k.s + y;
  return Kahan(t, (t - k.s) - y);
}
fn kval(k: Kahan) -> f32 { return k.s - k.c; }

// Sums a and b over the lanes of each channel; every thread gets its channel's totals.
fn reduce2(a: f32, b: f32, lx: u32, ly: u32) -> vec2<f32> {
  let i = ly * TC + lx;
  redA[i] = a;
  redB[i] = b;
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s = s / 2u) {
    if (ly < s) {
      redA[i] = redA[i] + redA[i + s * TC];
      redB[i] = redB[i] + redB[i + s * TC];
    }
    workgroupBarrier();
  }
  let r = vec2<f32>(redA[lx], redB[lx]);
  workgroupBarrier();
  return r;
}
`;

const BN_FORWARD = () => /* wgsl */ `
${bindings(['y', 'meanOut', 'varOut'], ['x', 'gamma', 'beta'], 'rows: u32, c: u32, eps: f32, slope: f32')}
${CHANNEL_TILE}
@compute @workgroup_size(${TC}, ${LANES}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wid.x * TC + lid.x;
  let valid = c < u.c;
  var k = Kahan(0.0, 0.0);
  if (valid) {
    for (var r = lid.y; r < u.rows; r = r + LANES) { k = kadd(k, x[r * u.c + c]); }
  }
  let mean = reduce2(kval(k), 0.0, lid.x, lid.y).x / f32(u.rows);
  k = Kahan(0.0, 0.0);
  if (valid) {
    for (var r = lid.y; r < u.rows; r = r + LANES) {
      let d = x[r * u.c + c] - mean;
      k = kadd(k, d * d);
    }
  }
  let variance = reduce2(kval(k), 0.0, lid.x, lid.y).x / f32(u.rows);
  if (valid) {
    if (lid.y == 0u) {
      meanOut[c] = mean;
      varOut[c] = variance;
    }
    let scale = gamma[c] / sqrt(variance + u.eps);
    let shift = beta[c];
    for (var r = lid.y; r < u.rows; r = r + LANES) {
      let i = r * u.c + c;
      let v = (x[i] - mean) * scale + shift;
      y[i] = select(v, v * u.slope, v < 0.0);
    }
  }
}
`;

/** dx, and the packed sums [dβ (C) | dγ (C)] that BN_SPLIT hands out as two tensors. */
const BN_BACKWARD = () => /* wgsl */ `
${bindings(['dx', 'sums'], ['dy', 'x', 'y', 'gamma', 'mean', 'variance'], 'rows: u32, c: u32, eps: f32, slope: f32')}
${CHANNEL_TILE}
fn grad(i: u32) -> f32 { return dy[i] * select(u.slope, 1.0, y[i] > 0.0); }
@compute @workgroup_size(${TC}, ${LANES}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wid.x * TC + lid.x;
  let valid = c < u.c;
  var m = 0.0;
  var inv = 0.0;
  var sg = Kahan(0.0, 0.0);
  var sgx = Kahan(0.0, 0.0);
  if (valid) {
    m = mean[c];
    inv = 1.0 / sqrt(variance[c] + u.eps);
    for (var r = lid.y; r < u.rows; r = r + LANES) {
      let i = r * u.c + c;
      let g = grad(i);
      sg = kadd(sg, g);
      sgx = kadd(sgx, g * (x[i] - m));
    }
  }
  let t = reduce2(kval(sg), kval(sgx), lid.x, lid.y);
  if (valid) {
    if (lid.y == 0u) {
      sums[c] = t.x;
      sums[u.c + c] = t.y * inv;
    }
    // dx = a·g − a·Σg/R − b·(x − mean), a = γ/σ, b = γ/σ³·Σg(x − mean)/R.
    let R = f32(u.rows);
    let a = gamma[c] * inv;
    let b = a * inv * inv * t.y / R;
    let mg = a * t.x / R;
    for (var r = lid.y; r < u.rows; r = r + LANES) {
      let i = r * u.c + c;
      dx[i] = a * grad(i) - mg - b * (x[i] - m);
    }
  }
}
`;

const BN_SPLIT = () => /* wgsl */ `
${bindings(['dGamma', 'dBeta'], ['sums'], 'c: u32')}
@compute @workgroup_size(${ELEMENTWISE}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let c = gid.y * nw.x * ${ELEMENTWISE}u + gid.x;
  if (c < u.c) {
    dBeta[c] = sums[c];
    dGamma[c] = sums[u.c + c];
  }
}
`;

const ACT_GRAD = () => /* wgsl */ `
${bindings(['dx'], ['dy', 'y'], 'n: u32, slope: f32')}
@compute @workgroup_size(${ELEMENTWISE}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.y * nw.x * ${ELEMENTWISE}u + gid.x;
  if (i < u.n) { dx[i] = dy[i] * select(u.slope, 1.0, y[i] > 0.0); }
}
`;

/**
 * tfjs's unfused Adam chain, each product and sum rounded to float32 in this order (the CPU fused
 * kernel does the same): m′ = b1·m + c1·g; v′ = b2·v + (g·g)·c2; p′ = p − ((m′/bc1)/(√(v′/bc2) + eps))·lr.
 * WGSL cannot forbid a driver from contracting a·b + c into an FMA; that changes the last bit at most.
 */
const ADAM = () => /* wgsl */ `
${bindings(['pOut', 'mOut', 'vOut'], ['p', 'g', 'm', 'v'], 'n: u32, lr: f32, b1: f32, b2: f32, c1: f32, c2: f32, bc1: f32, bc2: f32, eps: f32')}
@compute @workgroup_size(${ELEMENTWISE}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.y * nw.x * ${ELEMENTWISE}u + gid.x;
  if (i < u.n) {
    let gi = g[i];
    let mi = u.b1 * m[i] + u.c1 * gi;
    let vi = u.b2 * v[i] + (gi * gi) * u.c2;
    mOut[i] = mi;
    vOut[i] = vi;
    pOut[i] = p[i] - ((mi / u.bc1) / (sqrt(vi / u.bc2) + u.eps)) * u.lr;
  }
}
`;

/** One or two passes' batch statistics folded into the moving mean and variance, in order. */
const BN_MOVING = (passes: 1 | 2) => () => {
  const ins = passes === 1 ? ['mean', 'variance', 'm0', 'v0'] : ['mean', 'variance', 'm0', 'v0', 'm1', 'v1'];
  const fold = (s: number) => `
    mm = mm * (1.0 - u.momentum) + m${s}[c] * u.momentum;
    vv = vv * (1.0 - u.momentum) + (v${s}[c] * u.f${s}) * u.momentum;`;
  return /* wgsl */ `
${bindings(['meanOut', 'varOut'], ins, 'c: u32, momentum: f32, f0: f32, f1: f32')}
@compute @workgroup_size(${ELEMENTWISE}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let c = gid.y * nw.x * ${ELEMENTWISE}u + gid.x;
  if (c < u.c) {
    var mm = mean[c];
    var vv = variance[c];${fold(0)}${passes === 2 ? fold(1) : ''}
    meanOut[c] = mm;
    varOut[c] = vv;
  }
}
`;
};

const f32 = (...data: number[]) => ({ type: 'float32' as const, data });
const u32 = (...data: number[]) => ({ type: 'uint32' as const, data });
const channelTiles = (c: number): [number, number, number] => [Math.ceil(c / TC), 1, 1];

type Kernel = (b: WebGpuBackendLike, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => Info | Info[];

const bnAct: Kernel = (b, { x, gamma, beta }, attrs) => {
  requireFloat('GanomalyBatchNormAct', [x!, gamma!, beta!]);
  const { epsilon, slope } = attrs as { epsilon: number; slope: number };
  const c = gamma!.shape[0]!;
  const outs = [makeOutput(b, x!.shape), makeOutput(b, [c]), makeOutput(b, [c])];
  record(b, {
    key: 'GanomalyBatchNormAct', wgsl: BN_FORWARD, outputs: outs, inputs: [x!, gamma!, beta!],
    uniforms: [u32(rowsOf(x!, c), c), f32(epsilon, slope)], workgroups: channelTiles(c),
  });
  return outs;
};

const bnActGrad: Kernel = (b, { dy, x, y, gamma, mean, variance }, attrs) => {
  requireFloat('GanomalyBatchNormActGrad', [dy!, x!, y!, gamma!, mean!, variance!]);
  const { epsilon, slope } = attrs as { epsilon: number; slope: number };
  const c = gamma!.shape[0]!;
  const dx = makeOutput(b, x!.shape);
  const sums = makeOutput(b, [2 * c]);
  record(b, {
    key: 'GanomalyBatchNormActGrad', wgsl: BN_BACKWARD, outputs: [dx, sums], inputs: [dy!, x!, y!, gamma!, mean!, variance!],
    uniforms: [u32(rowsOf(x!, c), c), f32(epsilon, slope)], workgroups: channelTiles(c),
  });
  const dGamma = makeOutput(b, [c]);
  const dBeta = makeOutput(b, [c]);
  record(b, {
    key: 'GanomalyBatchNormActGrad.split', wgsl: BN_SPLIT, outputs: [dGamma, dBeta], inputs: [sums],
    uniforms: [u32(c)], workgroups: grid1d(c, ELEMENTWISE),
  });
  disposeTemp(b, sums);
  return [dx, dGamma, dBeta];
};

const actGrad: Kernel = (b, { dy, y }, attrs) => {
  requireFloat('GanomalyActivationGrad', [dy!, y!]);
  const n = dy!.shape.reduce((p, q) => p * q, 1);
  const dx = makeOutput(b, dy!.shape);
  record(b, {
    key: 'GanomalyActivationGrad', wgsl: ACT_GRAD, outputs: [dx], inputs: [dy!, y!],
    uniforms: [u32(n), f32((attrs as { slope: number }).slope)], workgroups: grid1d(n, ELEMENTWISE),
  });
  return dx;
};

/** Inputs p0…, g0…, m0…, v0… (count n); outputs p′0…, m′0…, v′0…: one dispatch per parameter. */
const adam: Kernel = (b, inputs, attrs) => {
  const { n, ...hyper } = attrs as unknown as AdamHyper & { n: number };
  const k = adamConstants(hyper);
  const at = (k: string, i: number) => inputs[`${k}${i}`]!;
  const outs: Info[] = [];
  for (const k of ['p', 'm', 'v']) for (let i = 0; i < n; i++) outs.push(makeOutput(b, at(k, i).shape));
  for (let i = 0; i < n; i++) {
    requireFloat('GanomalyAdam', [at('p', i), at('g', i), at('m', i), at('v', i)]);
    const size = at('p', i).shape.reduce((p, q) => p * q, 1);
    record(b, {
      key: 'GanomalyAdam', wgsl: ADAM, outputs: [outs[i]!, outs[n + i]!, outs[2 * n + i]!], inputs: [at('p', i), at('g', i), at('m', i), at('v', i)],
      // The CPU kernel's float32 constants (1 − β taken in float64 first, as torch).
      uniforms: [u32(size), f32(k.lr, k.beta1, k.beta2, k.c1, k.c2, k.bc1, k.bc2, k.eps)], workgroups: grid1d(size, ELEMENTWISE),
    });
  }
  return outs;
};

/** Inputs mean, variance, m0…, v0…; outputs mean′, variance′: the passes folded in order, two per dispatch. */
const bnMoving: Kernel = (b, inputs, attrs) => {
  const { counts, momentum } = attrs as { counts: number[]; momentum: number };
  const c = inputs.mean!.shape[0]!;
  const unbiased = (n: number) => (n > 1 ? n / (n - 1) : 1);
  let mean = inputs.mean!;
  let variance = inputs.variance!;
  for (let s = 0; s < counts.length; s += 2) {
    const passes = Math.min(2, counts.length - s) as 1 | 2;
    const ins = [mean, variance];
    for (let k = s; k < s + passes; k++) ins.push(inputs[`m${k}`]!, inputs[`v${k}`]!);
    const outs = [makeOutput(b, [c]), makeOutput(b, [c])];
    record(b, {
      key: `GanomalyBatchNormMoving.${passes}`, wgsl: BN_MOVING(passes), outputs: outs, inputs: ins,
      uniforms: [u32(c), f32(momentum, unbiased(counts[s]!), passes === 2 ? unbiased(counts[s + 1]!) : 1)], workgroups: grid1d(c, ELEMENTWISE),
    });
    if (s > 0) {
      disposeTemp(b, mean);
      disposeTemp(b, variance);
    }
    [mean, variance] = outs as [Info, Info];
  }
  return [mean, variance];
};

const KERNELS: Record<string, Kernel> = {
  GanomalyBatchNormAct: bnAct,
  GanomalyBatchNormActGrad: bnActGrad,
  GanomalyActivationGrad: actGrad,
  GanomalyAdam: adam,
  GanomalyBatchNormMoving: bnMoving,
};

/** The fused kernels for 'webgpu', keyed by kernel name: kernelFuncs over the backend object tfjs passes in. */
export const WEBGPU_FUSED_KERNELS: Record<string, tf.KernelFunc> = Object.fromEntries(
  Object.entries(KERNELS).map(([name, k]) => [
    name,
    (({ inputs, attrs, backend }) => k(backendOf(backend), inputs, attrs ?? {}) as tf.TensorInfo) as tf.KernelFunc,
  ]),
);
