// Conv2D, Conv2DBackpropInput (= conv2dTranspose forward) and Conv2DBackpropFilter for the wasm
// backend computed by oneDNN on all cores, reading and writing the tensors in place on the wasm
// heap; plus Sum/Mean over the leading axes (BatchNorm) as vectorised C, bit-identical to the
// wasm kernels. Plugged into the wasm kernel replacements as their accelerator: any case outside
// what is covered here (other layouts, dilation) falls through to the wasm kernels.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { leadingReduceOf } from './leading-reduce.js';
import { loadNativeConv, type NativeConvAddon, type NativeLoad } from './native-addon.js';
import { setConvAccelerator, type ConvAccelerator } from './wasm-kernels.js';
import { setFusedAccelerator, type FusedMath } from './fused/kernels.js';

type Info = tf.TensorInfo;
type Shape4 = [number, number, number, number];

function convInfo(xShape: number[], filterShape: number[], attrs: tf.NamedAttrMap): tf.backend_util.Conv2DInfo {
  const { strides, pad, dataFormat, dimRoundingMode, dilations } = attrs as unknown as tf.Conv2DAttrs;
  return tf.backend_util.computeConv2DInfo(
    xShape as Shape4, filterShape as Shape4, strides, dilations ?? 1, pad, dimRoundingMode, false,
    tf.backend_util.convertConv2DDataFormat(dataFormat ?? 'NHWC'),
  );
}

/** The addon's geometry, or null for what it does not cover. */
export function geometryOf(info: tf.backend_util.Conv2DInfo): number[] | null {
  if (info.dataFormat !== 'channelsLast' || info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  const { top, left } = info.padInfo;
  const g = [
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, top, left,
  ];
  if (g.some((v) => !Number.isInteger(v) || v < 0) || g.slice(0, 11).some((v) => v === 0)) return null;
  // Input rows/columns after the last window never reach the output. oneDNN would need negative
  // padding after them, which it rejects; the wasm kernels cut them instead.
  const bottom = (info.outHeight - 1) * info.strideHeight + info.filterHeight - info.inHeight - top;
  const right = (info.outWidth - 1) * info.strideWidth + info.filterWidth - info.inWidth - left;
  return bottom < 0 || right < 0 ? null : g;
}

const f32 = (backend: BackendWasm, t: Info) => backend.typedArrayFromHeap(t) as Float32Array;

/** `refused`: geometries oneDNN failed on (pass + geometry), so each costs one attempt and one warning. */
function run(
  refused: Set<string>, backend: BackendWasm, addon: NativeConvAddon, pass: 0 | 1 | 2, geometry: number[], a: Info, b: Info, outShape: number[],
): Info | null {
  const key = `${pass}:${geometry.join(',')}`;
  if (refused.has(key)) return null;
  const out = backend.makeOutput(outShape, 'float32');
  try {
    // Views after the allocation: growing the wasm memory detaches older ones.
    addon.conv(pass, geometry, f32(backend, a), f32(backend, b), f32(backend, out));
  } catch (e) {
    backend.disposeData(out.dataId);
    refused.add(key);
    const msg = e instanceof Error ? e.message : String(e);
    console.warn(`oneDNN convolution (pass ${pass}, geometry ${geometry.join(',')}) failed, using the wasm kernel: ${msg}`);
    return null;
  }
  return out;
}

const allFloat = (...ts: Info[]) => ts.every((t) => t.dtype === 'float32');

function reduceLeading(backend: BackendWasm, addon: NativeConvAddon, x: Info, attrs: tf.NamedAttrMap, mean: boolean): Info | null {
  const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
  const r = addon.sumRows === undefined ? null : leadingReduceOf(x, axis, keepDims);
  if (r === null) return null;
  const out = backend.makeOutput(r.outShape, 'float32');
  addon.sumRows!(f32(backend, x), r.rows, r.width, f32(backend, out), mean);
  return out;
}

/** The fused training kernels' loops on all cores, when this build of the addon has them. */
export function nativeFusedMath(addon: NativeConvAddon): FusedMath | null {
  const { bnActForward, bnActBackward, activationBackward, adam } = addon;
  if (!bnActForward || !bnActBackward || !activationBackward || !adam) return null;
  return {
    bnActForward: (...a) => bnActForward.apply(addon, a),
    bnActBackward: (...a) => bnActBackward.apply(addon, a),
    activationBackward: (...a) => activationBackward.apply(addon, a),
    adamUpdate: (p, g, m, v, h, pOut, mOut, vOut) =>
      adam.call(addon, p, g, m, v, Float64Array.of(h.lr, h.beta1, h.beta2, h.eps, h.bc1, h.bc2), pOut, mOut, vOut),
  };
}

function leakyRelu(backend: BackendWasm, addon: NativeConvAddon, x: Info, attrs: tf.NamedAttrMap): Info | null {
  if (addon.leakyRelu === undefined || x.dtype !== 'float32') return null;
  const out = backend.makeOutput(x.shape, 'float32');
  addon.leakyRelu(f32(backend, x), (attrs as unknown as tf.LeakyReluAttrs).alpha, f32(backend, out));
  return out;
}

export function nativeConvAccelerator(addon: NativeConvAddon): ConvAccelerator {
  const refused = new Set<string>();
  return {
    LeakyRelu: (backend, { x }, attrs) => leakyRelu(backend, addon, x!, attrs),
    Sum: (backend, { x }, attrs) => reduceLeading(backend, addon, x!, attrs, false),
    Mean: (backend, { x }, attrs) => reduceLeading(backend, addon, x!, attrs, true),
    Conv2D: (backend, { x, filter }, attrs) => {
      if (!allFloat(x!, filter!)) return null;
      const info = convInfo(x!.shape, filter!.shape, attrs);
      const g = geometryOf(info);
      return g === null ? null : run(refused, backend, addon, 0, g, x!, filter!, info.outShape);
    },
    Conv2DBackpropInput: (backend, { dy, filter }, attrs) => {
      if (!allFloat(dy!, filter!)) return null;
      const { inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
      const g = geometryOf(convInfo(inputShape, filter!.shape, attrs));
      return g === null ? null : run(refused, backend, addon, 1, g, dy!, filter!, inputShape);
    },
    Conv2DBackpropFilter: (backend, { x, dy }, attrs) => {
      if (!allFloat(x!, dy!)) return null;
      const { filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      const g = geometryOf(convInfo(x!.shape, filterShape, attrs));
      return g === null ? null : run(refused, backend, addon, 2, g, x!, dy!, filterShape);
    },
  };
}

export type NativeConvState = { active: true; threads: number; version: string } | { active: false; why: string };

/** Routes the wasm backend's convolutions through oneDNN when the addon loads; otherwise says why not. */
export function enableNativeConvKernels(load: NativeLoad = loadNativeConv()): NativeConvState {
  if (!load.ok) {
    setConvAccelerator(null);
    setFusedAccelerator(null);
    return { active: false, why: load.why };
  }
  setConvAccelerator(nativeConvAccelerator(load.addon));
  setFusedAccelerator(nativeFusedMath(load.addon));
  return { active: true, threads: load.addon.getThreads(), version: load.addon.version() };
}

/** Back to the wasm kernels alone (for comparisons). */
export function disableNativeConvKernels(): void {
  setConvAccelerator(null);
  setFusedAccelerator(null);
}
