// The arithmetic of the fused training kernels on plain Float32Arrays, shared by every CPU-side
// backend (tfjs 'cpu' and 'wasm'; the wasm kernels run it on views of the wasm heap). Channels
// are innermost (NHWC), so a per-channel statistic is a stride-C walk over the rows. Sums are
// accumulated in float64 (JS numbers): one pass gives the mean and the biased variance without
// the cancellation a float32 E[x²] − E[x]² would suffer.

/**
 * Activation after BatchNorm. Its gradient is read off the output: y > 0 exactly where the input
 * is (tfjs's LeakyRelu and Relu gradients take slope 1 only for inputs > 0, too).
 */
export type FusedActivation = 'lrelu' | 'relu' | 'none';

/** Slope of the activation's negative side: LeakyReLU α, ReLU 0, identity 1. */
export function negativeSlope(act: FusedActivation, alpha: number): number {
  return act === 'lrelu' ? alpha : act === 'relu' ? 0 : 1;
}

/**
 * Training-mode BatchNorm over all rows of an [rows, C] view, then the activation:
 * y = act((x − mean)/√(var + eps)·γ + β), with the batch's mean and biased variance written out.
 */
export function bnActForward(
  x: Float32Array, gamma: Float32Array, beta: Float32Array, eps: number, slope: number,
  y: Float32Array, meanOut: Float32Array, varOut: Float32Array,
): void {
  const c = gamma.length;
  const rows = x.length / c;
  const s1 = new Float64Array(c);
  const s2 = new Float64Array(c);
  for (let base = 0; base < x.length; base += c) {
    for (let j = 0; j < c; j++) {
      const v = x[base + j]!;
      s1[j] += v;
      s2[j] += v * v;
    }
  }
  const scale = new Float64Array(c);
  const shift = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    const mean = s1[j]! / rows;
    const variance = Math.max(0, s2[j]! / rows - mean * mean);
    meanOut[j] = mean;
    varOut[j] = variance;
    // From the stored float32 statistics, so the backward pass (which reads them) sees the same x̂.
    const inv = 1 / Math.sqrt(varOut[j]! + eps);
    scale[j] = gamma[j]! * inv;
    shift[j] = beta[j]! - meanOut[j]! * gamma[j]! * inv;
  }
  // float32 slope, as the kernels it replaces multiply by (and the products then round alike).
  const k = Math.fround(slope) - 1;
  for (let base = 0; base < x.length; base += c) {
    for (let j = 0; j < c; j++) {
      const v = x[base + j]! * scale[j]! + shift[j]!;
      // Branchless: with random signs a branch mispredicts half the time.
      y[base + j] = v * (1 + Number(v < 0) * k);
    }
  }
}

/**
 * Gradient of bnActForward with respect to x, γ and β, the batch statistics differentiated
 * through (as autodiff of tf.moments + tf.batchNorm does): with g = dy·act′ and x̂ the normalised
 * input, dβ = Σg, dγ = Σg·x̂, dx = γ/σ · (g − dβ/R − x̂·dγ/R).
 */
export function bnActBackward(
  dy: Float32Array, x: Float32Array, y: Float32Array, gamma: Float32Array, mean: Float32Array, variance: Float32Array,
  eps: number, slope: number, dx: Float32Array, dGamma: Float32Array, dBeta: Float32Array,
): void {
  const c = gamma.length;
  const rows = x.length / c;
  const inv = new Float64Array(c);
  for (let j = 0; j < c; j++) inv[j] = 1 / Math.sqrt(variance[j]! + eps);
  const s = Math.fround(slope);
  const k = 1 - s;
  const sg = new Float64Array(c);
  const sgx = new Float64Array(c);
  for (let base = 0; base < x.length; base += c) {
    for (let j = 0; j < c; j++) {
      const i = base + j;
      const g = dy[i]! * (s + Number(y[i]! > 0) * k);
      sg[j] += g;
      sgx[j] += g * (x[i]! - mean[j]!);
    }
  }
  const a = new Float64Array(c);
  const b = new Float64Array(c);
  const m = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    dBeta[j] = sg[j]!;
    dGamma[j] = sgx[j]! * inv[j]!;
    // dx = a·g − a·Σg/R − b·(x − mean), with a = γ/σ and b = γ/σ³·Σg(x − mean)/R.
    a[j] = gamma[j]! * inv[j]!;
    b[j] = a[j]! * inv[j]! * inv[j]! * sgx[j]! / rows;
    m[j] = a[j]! * sg[j]! / rows;
  }
  for (let base = 0; base < x.length; base += c) {
    for (let j = 0; j < c; j++) {
      const i = base + j;
      const g = dy[i]! * (s + Number(y[i]! > 0) * k);
      dx[i] = a[j]! * g - m[j]! - b[j]! * (x[i]! - mean[j]!);
    }
  }
}

/** Gradient of an activation alone, read off its output y (sign of y = sign of the input). */
export function activationBackward(dy: Float32Array, y: Float32Array, slope: number, dx: Float32Array): void {
  const s = Math.fround(slope);
  const k = 1 - s;
  for (let i = 0; i < dy.length; i++) dx[i] = dy[i]! * (s + Number(y[i]! > 0) * k);
}

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 1 − β1^t and 1 − β2^t for this step t. */
  bc1: number;
  bc2: number;
}

/**
 * torch.optim.Adam's update of one parameter tensor: m, v and p written to the outputs.
 *
 * Bit for bit the unfused float32 op chain (src/train/adam.ts, tfjs's mul/add/square/div/sqrt):
 * every product, quotient, sum and root rounded to float32 in that chain's order, with float32
 * constants. Why not float64 throughout: per step the two differ by ~1e-7 relative, but over a
 * run the float64 update left the accuracy bench's mean AUC 0.012 below unfused training (8 of 9
 * pairs); with the chain reproduced exactly, turning the fused Adam on or off gives the same
 * weights (docs/training-speed.md).
 */
export function adamUpdate(
  p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, h: AdamHyper,
  pOut: Float32Array, mOut: Float32Array, vOut: Float32Array,
): void {
  const f = Math.fround;
  const { lr, beta1, beta2, eps, bc1, bc2, c1, c2 } = adamConstants(h);
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]!;
    // A sum, product, quotient or root of two float32 values computed in float64 and rounded
    // once to float32 is the correctly rounded float32 result (53 ≥ 2·24 + 2 bits).
    const mi = f(f(m[i]! * beta1) + f(gi * c1));
    const vi = f(f(v[i]! * beta2) + f(f(gi * gi) * c2));
    mOut[i] = mi;
    vOut[i] = vi;
    const update = f(f(f(mi / bc1) / f(f(Math.sqrt(f(vi / bc2))) + eps)) * lr);
    pOut[i] = p[i]! - update;
  }
}

/** Adam's constants as the unfused chain's float32 scalars (1 − β taken in float64 first, as torch). */
export function adamConstants(h: AdamHyper): AdamHyper & { c1: number; c2: number } {
  const f = Math.fround;
  return {
    lr: f(h.lr), beta1: f(h.beta1), beta2: f(h.beta2), eps: f(h.eps), bc1: f(h.bc1), bc2: f(h.bc2),
    c1: f(1 - h.beta1), c2: f(1 - h.beta2),
  };
}

/**
 * nn.BatchNorm2d's moving averages after several forward passes in one step (D runs four times):
 * each pass folds in its batch mean and unbiased variance, in order.
 */
export function bnMovingUpdate(
  mean: Float32Array, variance: Float32Array, batchMeans: Float32Array[], batchVars: Float32Array[], counts: number[],
  momentum: number, meanOut: Float32Array, varOut: Float32Array,
): void {
  for (let j = 0; j < mean.length; j++) {
    let m = mean[j]!;
    let v = variance[j]!;
    for (let s = 0; s < batchMeans.length; s++) {
      const n = counts[s]!;
      const unbiased = n > 1 ? batchVars[s]![j]! * (n / (n - 1)) : batchVars[s]![j]!;
      m = Math.fround(m * (1 - momentum) + batchMeans[s]![j]! * momentum);
      v = Math.fround(v * (1 - momentum) + unbiased * momentum);
    }
    meanOut[j] = m;
    varOut[j] = v;
  }
}
