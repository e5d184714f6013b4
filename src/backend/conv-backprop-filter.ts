// Conv2DBackpropFilter (the filter gradient of conv2d and conv2dTranspose) for the wasm backend,
// which has no such kernel. dW[p,q,ci,co] = Σ_{n,i,j} x[n, i·s + p − pt, j·s + q − pl, ci]·dy[n,i,j,co].
//
// Two formulations, both ending in XNNPACK:
// - 'conv': swap batch and channels. With x as [Cin, H, W, N] and dy as the filter
//   [OH, OW, N, Cout], dilated by the stride, one conv yields dW as [Cin, kh, kw, Cout].
//   Exactly the useful multiply-adds; fast when Cin·kh·kw (the conv's output pixels) is large.
// - 'im2col': gather xᵀ patches [kh·kw·Cin, N·OH·OW] in JS straight on the wasm heap, then one
//   plain matmul with dy [N·OH·OW, Cout]. Wins when Cin is tiny (first/last image layers),
//   where the conv formulation leaves XNNPACK with a handful of output pixels.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { alloc, conv2d, free, matMul, reshape, slice, transpose, view, type Pads4 } from './wasm-ops.js';

type Info = tf.TensorInfo;

export type FilterGradMethod = 'conv' | 'im2col';

/** Below this many rows of dW (kh·kw·Cin) the im2col route is faster (measured: see bench/train-kernels.ts). */
export const IM2COL_MAX_ROWS = 64;

export function chooseFilterGradMethod(info: tf.backend_util.Conv2DInfo): FilterGradMethod {
  return info.filterHeight * info.filterWidth * info.inChannels <= IM2COL_MAX_ROWS ? 'im2col' : 'conv';
}

function viaConv(backend: BackendWasm, x: Info, dy: Info, info: tf.backend_util.Conv2DInfo): Info {
  const { inHeight: h, inWidth: w, outHeight: oh, outWidth: ow, strideHeight: sH, strideWidth: sW } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  // Padding after so that the dilated window slides exactly kh (kw) times; rows past the
  // forward conv's last window never reach dW and are cut instead when that pad is negative.
  const bottom = kh + (oh - 1) * sH - h - top;
  const right = kw + (ow - 1) * sW - w - left;
  const toFree: Info[] = [];
  let src = x;
  if (bottom < 0 || right < 0) {
    const [n, , , c] = x.shape as number[];
    src = slice(backend, x, [0, 0, 0, 0], [n!, h + Math.min(bottom, 0), w + Math.min(right, 0), c!]);
    toFree.push(src);
  }
  const xT = transpose(backend, src, [3, 1, 2, 0]);
  const dyT = transpose(backend, dy, [1, 2, 0, 3]);
  toFree.push(xT, dyT);
  const pads: Pads4 = [[0, 0], [top, Math.max(bottom, 0)], [left, Math.max(right, 0)], [0, 0]];
  const g = conv2d(backend, xT, dyT, pads, [sH, sW]); // [Cin, kh, kw, Cout]
  toFree.push(g);
  const dw = transpose(backend, g, [1, 2, 0, 3]);
  free(backend, ...toFree);
  return dw;
}

function viaIm2col(backend: BackendWasm, x: Info, dy: Info, info: tf.backend_util.Conv2DInfo): Info {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: cin, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, outChannels: cout, strideHeight: sH, strideWidth: sW } = info;
  const { top, left } = info.padInfo;
  const cols = n * oh * ow;
  const { info: patches, data } = alloc(backend, [kh * kw * cin, cols]);
  const xs = view(backend, x);
  for (let p = 0; p < kh; p++) {
    for (let q = 0; q < kw; q++) {
      for (let ci = 0; ci < cin; ci++) {
        let d = ((p * kw + q) * cin + ci) * cols;
        for (let b = 0; b < n; b++) {
          for (let i = 0; i < oh; i++) {
            const y = i * sH + p - top;
            if (y < 0 || y >= h) {
              data.fill(0, d, d + ow);
              d += ow;
              continue;
            }
            const rowBase = (b * h + y) * w;
            for (let j = 0; j < ow; j++, d++) {
              const xc = j * sW + q - left;
              data[d] = xc >= 0 && xc < w ? xs[(rowBase + xc) * cin + ci]! : 0;
            }
          }
        }
      }
    }
  }
  const dy2 = reshape(backend, dy, [cols, cout]);
  const g = matMul(backend, patches, dy2);
  const dw = reshape(backend, g, [kh, kw, cin, cout]);
  free(backend, patches, dy2, g);
  return dw;
}

export function conv2dBackpropFilterWasm(
  backend: BackendWasm, x: Info, dy: Info, info: tf.backend_util.Conv2DInfo, method = chooseFilterGradMethod(info),
): Info {
  if (info.dataFormat !== 'channelsLast') {
    throw new Error("wasm Conv2DBackpropFilter supports dataFormat 'NHWC' only");
  }
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) {
    throw new Error('wasm Conv2DBackpropFilter supports dilation 1 only');
  }
  return method === 'im2col' ? viaIm2col(backend, x, dy, info) : viaConv(backend, x, dy, info);
}
