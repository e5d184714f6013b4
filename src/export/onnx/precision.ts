// Reduced-precision copies of a float32 graph: the conv kernels (99.9 % of GANomaly's bytes) are
// stored as float16 or as per-channel symmetric int8, and turned back into float32 inside the graph
// (Cast / DequantizeLinear, standard ONNX from opset 13). Everything else — BatchNorm, activations,
// the score — stays float32, so every ONNX Runtime EP (CPU, CUDA, WASM, WebGPU) runs the variants,
// and ORT folds the conversion into a constant once, at session creation.
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataType,
  TensorProtoSchema,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from '../proto/onnx_pb.js';
import { OnnxBuildError } from './builder.js';
import { decodeModel } from './validate.js';

export type ReducedPrecision = 'fp16' | 'int8';

export const VARIANT_FILES: Record<ReducedPrecision, string> = {
  fp16: 'detector.fp16.onnx',
  int8: 'detector.int8.onnx',
};

export const VARIANT_WEIGHTS: Record<ReducedPrecision, string> = {
  fp16: 'conv kernels float16 (Cast to float32 in the graph); other tensors float32; float32 compute',
  int8: 'conv kernels int8, symmetric per output channel (DequantizeLinear in the graph); other tensors float32; float32 compute',
};

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of a float32 value, rounded to nearest even (subnormals, ±inf, NaN kept). */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/** The float value of binary16 bits (for tests and parity reports). */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Per-output-channel symmetric int8: q = round(w / scale), scale = max|w| / 127 over the channel. */
export function quantizePerChannel(data: Float32Array, dims: readonly number[], axis: number): { q: Int8Array; scales: Float32Array } {
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const maxAbs = new Float32Array(channels);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      let m = maxAbs[c]!;
      for (let i = 0; i < inner; i++) m = Math.max(m, Math.abs(data[base + i]!));
      maxAbs[c] = m;
    }
  }
  const scales = maxAbs.map((m) => (m > 0 && Number.isFinite(m) ? m / 127 : 1));
  const q = new Int8Array(data.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      const s = scales[c]!;
      for (let i = 0; i < inner; i++) q[base + i] = Math.max(-127, Math.min(127, Math.round(data[base + i]! / s)));
    }
  }
  return { q, scales };
}

function floatData(t: TensorProto): Float32Array {
  if (t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData); // a copy: rawData may be an unaligned view into the file
    return new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4);
  }
  return Float32Array.from(t.floatData);
}

function tensor(name: string, dims: readonly number[], dataType: TensorProto_DataType, raw: Uint8Array): TensorProto {
  return create(TensorProtoSchema, { name, dims: dims.map((d) => BigInt(d)), dataType, rawData: raw });
}

function intAttr(name: string, value: number) {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(value) });
}

/** Which axis of a kernel holds the output channels: Conv OIHW → 0; ConvTranspose [in, out, h, w] → 1. */
const OUTPUT_AXIS: Record<string, number> = { Conv: 0, ConvTranspose: 1 };

/**
 * Returns serialized bytes of `fp32` with every Conv/ConvTranspose kernel stored in `precision`.
 * Graph inputs, outputs, node names and metadata stay as they are (plus 'ganomaly.precision').
 */
export function convertDetectorPrecision(fp32: Uint8Array, precision: ReducedPrecision): Uint8Array {
  const model: ModelProto = decodeModel(fp32);
  const graph = model.graph;
  if (!graph) throw new OnnxBuildError('model has no graph');
  const kernels = new Map<string, number>();
  for (const node of graph.node) {
    const axis = OUTPUT_AXIS[node.opType];
    if (axis !== undefined && node.input[1]) kernels.set(node.input[1], axis);
  }
  const decoders: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let converted = 0;
  for (const t of graph.initializer) {
    const axis = kernels.get(t.name);
    if (axis === undefined || t.dataType !== TensorProto_DataType.FLOAT) {
      initializers.push(t);
      continue;
    }
    const dims = t.dims.map((d) => Number(d));
    const data = floatData(t);
    converted++;
    if (precision === 'fp16') {
      const half = new Uint16Array(data.length);
      for (let i = 0; i < data.length; i++) half[i] = float32ToFloat16Bits(data[i]!);
      initializers.push(tensor(`${t.name}__fp16`, dims, TensorProto_DataType.FLOAT16, new Uint8Array(half.buffer)));
      decoders.push(create(NodeProtoSchema, {
        name: `${t.name}/Cast`, opType: 'Cast', input: [`${t.name}__fp16`], output: [t.name],
        attribute: [intAttr('to', TensorProto_DataType.FLOAT)],
      }));
    } else {
      const { q, scales } = quantizePerChannel(data, dims, axis);
      initializers.push(tensor(`${t.name}__q`, dims, TensorProto_DataType.INT8, new Uint8Array(q.buffer)));
      initializers.push(tensor(`${t.name}__scale`, [scales.length], TensorProto_DataType.FLOAT, new Uint8Array(scales.buffer)));
      initializers.push(tensor(`${t.name}__zero`, [scales.length], TensorProto_DataType.INT8, new Uint8Array(scales.length)));
      decoders.push(create(NodeProtoSchema, {
        name: `${t.name}/DequantizeLinear`, opType: 'DequantizeLinear',
        input: [`${t.name}__q`, `${t.name}__scale`, `${t.name}__zero`], output: [t.name],
        attribute: [intAttr('axis', axis)],
      }));
    }
  }
  if (converted === 0) throw new OnnxBuildError('the graph has no float32 Conv/ConvTranspose kernels to convert');
  graph.initializer = initializers;
  graph.node = [...decoders, ...graph.node];
  model.metadataProps = [
    ...model.metadataProps.filter((p) => p.key !== 'ganomaly.precision'),
    create(StringStringEntryProtoSchema, { key: 'ganomaly.precision', value: precision }),
  ];
  model.docString = `${model.docString} Weights: ${VARIANT_WEIGHTS[precision]}.`.trim();
  return toBinary(ModelProtoSchema, model);
}
