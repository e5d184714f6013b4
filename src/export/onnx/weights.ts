// Reads one layer's weights from a tfjs-layout WeightMap, checks them against the layer plan, and
// converts kernels to ONNX layout. A wrong or missing tensor must fail here, by name, rather than
// produce a graph that loads and scores wrongly.
import type { NetName, WeightMap } from '../../types.js';
import { layerParams, type LayerPlan } from '../../train/architecture.js';
import { GanomalyError } from '@ganomaly-edge/runtime';

export class WeightMapError extends GanomalyError {
  override name = 'WeightMapError';
  readonly code = 'invalid_weights';
  constructor(readonly tensor: string, message: string) {
    super(`${tensor}: ${message}`);
  }
}

function checked(w: WeightMap, name: string, shape: number[]): Float32Array {
  const t = w[name];
  if (!t) throw new WeightMapError(name, 'missing from the weight map');
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new WeightMapError(name, `expected shape [${shape.join(',')}]; got [${t.shape.join(',')}]`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (!(t.data instanceof Float32Array) || t.data.length !== count) {
    throw new WeightMapError(name, `expected a Float32Array of ${count} values; got ${t.data?.length ?? 'none'}`);
  }
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(t.data[i])) throw new WeightMapError(name, `value ${i} is ${t.data[i]}`);
  }
  return t.data;
}

/**
 * tfjs conv kernels are HWIO [k,k,in,out] and ONNX Conv wants OIHW; tfjs conv2dTranspose kernels are
 * [k,k,out,in] and ONNX ConvTranspose wants [in,out,k,k]. Both are permutation [3,2,0,1], no flip.
 */
export function permute3201(src: Float32Array, shape: number[]): { dims: number[]; data: Float32Array } {
  const [a, b, c, d] = shape as [number, number, number, number];
  const out = new Float32Array(src.length);
  for (let i0 = 0; i0 < a; i0++) {
    for (let i1 = 0; i1 < b; i1++) {
      for (let i2 = 0; i2 < c; i2++) {
        const srcBase = ((i0 * b + i1) * c + i2) * d;
        for (let i3 = 0; i3 < d; i3++) {
          out[((i3 * c + i2) * a + i0) * b + i1] = src[srcBase + i3]!;
        }
      }
    }
  }
  return { dims: [d, c, a, b], data: out };
}

export interface OnnxLayerWeights {
  kernel: { dims: number[]; data: Float32Array };
  bn?: { gamma: Float32Array; beta: Float32Array; mean: Float32Array; var: Float32Array };
}

export function layerWeights(w: WeightMap, net: NetName, layer: LayerPlan): OnnxLayerWeights {
  const params = layerParams(net, layer);
  const [kernelParam] = params;
  const kernel = permute3201(checked(w, kernelParam!.name, kernelParam!.shape), kernelParam!.shape);
  if (!layer.batchNorm) return { kernel };
  const get = (p: string): Float32Array => checked(w, `${net}.${layer.name}.bn.${p}`, [layer.outChannels]);
  const bn = { gamma: get('gamma'), beta: get('beta'), mean: get('mean'), var: get('var') };
  const negative = bn.var.findIndex((v) => v < 0);
  if (negative >= 0) {
    throw new WeightMapError(`${net}.${layer.name}.bn.var`, `variance ${negative} is negative (${bn.var[negative]})`);
  }
  return { kernel, bn };
}
