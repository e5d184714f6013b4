// Conv2DBackpropInput (the input gradient of conv2d, and the forward pass of conv2dTranspose)
// for the wasm backend, expressed through its XNNPACK forward Conv2D.
//
// Zero-inserting dy for stride s wastes (s² − 1)/s² of the work on zeros. Instead dx is split
// into its s×s phases (rows ≡ a mod s, columns ≡ b mod s): each phase is a stride-1 conv over dy
// with the sub-filter of the taps that land on it (2×2 of the 4×4 filter for stride 2), and the
// phases are interleaved into dx in one pass over the wasm heap. Only useful multiply-adds are
// done. (One conv with all phases as extra output channels plus DepthToSpace was measured slower:
// the wasm DepthToSpace alone costs more than the four convs.)
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  alloc, conv2d, free, matMul, reshape, slice, transpose, view, type Pads4,
} from './wasm-ops.js';

type Info = tf.TensorInfo;

/** How one phase of one spatial axis maps onto a stride-1 conv over dy. */
interface PhasePlan {
  /** Output rows of this phase: a, a + s, a + 2s, … below the dx size. */
  rows: number;
  /** Filter rows the phase uses, in window order: taps[u] is the filter row for window row u. */
  taps: number[];
  /** Rows of dy dropped before / kept, and zero padding before / after what is kept. */
  skip: number;
  keep: number;
  padBefore: number;
  padAfter: number;
}

/**
 * k: filter size, s: stride, p: padding before (as the forward conv applied it), a: phase,
 * outSize: dx size, inSize: dy size. Forward: y[i] = Σ_t x[i·s − p + t]·w[t], so dx[o] gathers
 * dy[i]·w[t] with t = o + p − i·s; for o = b·s + a that is i = b + d − j, t = r + j·s with
 * d = ⌊(a + p)/s⌋, r = (a + p) mod s, j = 0, 1, … while t < k.
 */
function phasePlan(k: number, s: number, p: number, a: number, outSize: number, inSize: number): PhasePlan {
  const rows = Math.max(0, Math.ceil((outSize - a) / s));
  const d = Math.floor((a + p) / s);
  const r = (a + p) % s;
  const n = Math.max(0, Math.ceil((k - r) / s));
  const taps = Array.from({ length: n }, (_, u) => r + (n - 1 - u) * s);
  // Window row u of output b reads dy row b + d − (n − 1) + u.
  let padBefore = n - 1 - d;
  let skip = 0;
  if (padBefore < 0) {
    skip = -padBefore;
    padBefore = 0;
  }
  let keep = Math.max(0, inSize - skip);
  let padAfter = rows - keep - padBefore + n - 1;
  if (padAfter < 0) {
    keep += padAfter;
    padAfter = 0;
  }
  return { rows, taps, skip, keep, padBefore, padAfter };
}

/** Sub-filter [tapsH, tapsW, Cout, Cin] of one phase from the forward filter [kh, kw, Cin, Cout]. */
function phaseKernel(backend: BackendWasm, wT: Info, ph: PhasePlan, pw: PhasePlan): Info {
  const [, kw, cout, cin] = wT.shape as [number, number, number, number];
  const { info, data } = alloc(backend, [ph.taps.length, pw.taps.length, cout, cin]);
  const src = view(backend, wT); // [kh, kw, Cout, Cin]: whole Cout×Cin planes copy at once
  const plane = cout * cin;
  let dst = 0;
  for (const t of ph.taps) {
    for (const r of pw.taps) {
      const from = (t * kw + r) * plane;
      data.set(src.subarray(from, from + plane), dst);
      dst += plane;
    }
  }
  return info;
}

/** Writes phase (a, b) [N, rowsH, rowsW, C] into dx [N, H, W, C] at rows a + i·sH, columns b + j·sW. */
function interleave(
  dx: Float32Array, shape: number[], phase: Float32Array, a: number, b: number, sH: number, sW: number, ph: number, pw: number,
): void {
  const [n, h, w, c] = shape as [number, number, number, number];
  let from = 0;
  for (let bi = 0; bi < n; bi++) {
    for (let i = 0; i < ph; i++) {
      let to = ((bi * h + a + i * sH) * w + b) * c;
      if (c === 1) {
        for (let j = 0; j < pw; j++, to += sW) dx[to] = phase[from++]!;
      } else {
        for (let j = 0; j < pw; j++, to += sW * c, from += c) dx.set(phase.subarray(from, from + c), to);
      }
    }
  }
}

/** dy is 1×1 and dx is exactly the filter's extent: dx = dy · Wᵀ, one matmul. */
function fromPoint(backend: BackendWasm, dy: Info, filter: Info, batch: number): Info {
  const [kh, kw, cin, cout] = filter.shape as [number, number, number, number];
  const wT = transpose(backend, filter, [3, 0, 1, 2]);
  const w2 = reshape(backend, wT, [cout, kh * kw * cin]);
  const dy2 = reshape(backend, dy, [batch, cout]);
  const out = matMul(backend, dy2, w2);
  const dx = reshape(backend, out, [batch, kh, kw, cin]);
  free(backend, wT, w2, dy2, out);
  return dx;
}

/** Returns null when the configuration is outside what this formulation covers (caller falls back). */
export function conv2dBackpropInputWasm(
  backend: BackendWasm, dy: Info, filter: Info, info: tf.backend_util.Conv2DInfo,
): Info | null {
  if (info.dataFormat !== 'channelsLast' || info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  const { batchSize: n, inHeight, inWidth, inChannels: cin, outHeight, outWidth, strideHeight: sH, strideWidth: sW } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;

  if (outHeight === 1 && outWidth === 1 && top === 0 && left === 0 && inHeight === kh && inWidth === kw) {
    return fromPoint(backend, dy, filter, n);
  }
  const wT = transpose(backend, filter, [0, 1, 3, 2]);
  const phases: { a: number; b: number; y: Info | null; ph: PhasePlan; pw: PhasePlan }[] = [];
  for (let a = 0; a < sH; a++) {
    for (let b = 0; b < sW; b++) {
      const ph = phasePlan(kh, sH, top, a, inHeight, outHeight);
      const pw = phasePlan(kw, sW, left, b, inWidth, outWidth);
      phases.push({ a, b, ph, pw, y: phaseConv(backend, dy, wT, ph, pw, cin) });
    }
  }
  free(backend, wT);
  if (sH === 1 && sW === 1) return phases[0]!.y!;
  // Every dx position belongs to exactly one phase, so the phases fill dx completely.
  const { info: dx, data } = alloc(backend, [n, inHeight, inWidth, cin]);
  for (const p of phases) {
    if (p.y === null) continue;
    interleave(data, dx.shape, view(backend, p.y), p.a, p.b, sH, sW, p.ph.rows, p.pw.rows);
    free(backend, p.y);
  }
  return dx;
}

/** One phase as a stride-1 conv; null when the phase has no rows, zeros when it gets no taps. */
function phaseConv(backend: BackendWasm, dy: Info, wT: Info, ph: PhasePlan, pw: PhasePlan, cin: number): Info | null {
  const [n, , , cout] = dy.shape as [number, number, number, number];
  if (ph.rows === 0 || pw.rows === 0) return null;
  if (ph.taps.length === 0 || pw.taps.length === 0 || ph.keep <= 0 || pw.keep <= 0) {
    const { info, data } = alloc(backend, [n, ph.rows, pw.rows, cin]);
    data.fill(0);
    return info;
  }
  let src = dy;
  if (ph.skip > 0 || pw.skip > 0 || ph.keep < dy.shape[1]! || pw.keep < dy.shape[2]!) {
    src = slice(backend, dy, [0, ph.skip, pw.skip, 0], [n, ph.keep, pw.keep, cout]);
  }
  const k = phaseKernel(backend, wT, ph, pw);
  const pads: Pads4 = [[0, 0], [ph.padBefore, ph.padAfter], [pw.padBefore, pw.padAfter], [0, 0]];
  const y = conv2d(backend, src, k, pads, [1, 1]);
  free(backend, k);
  if (src !== dy) free(backend, src);
  return y;
}
