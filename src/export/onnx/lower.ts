// Lowers the GANomaly layer plans (src/train/architecture.ts) plus trained weights into ONNX graphs.
// Activations are NCHW here; weights arrive in tfjs layout and are permuted in weights.ts.
import type { ModelConfig, NetName, WeightMap } from '../../types.js';
import {
  BN_EPSILON,
  BN_MOMENTUM,
  LEAKY_ALPHA,
  decoderPlan,
  encoderPlan,
  type LayerPlan,
} from '../../train/architecture.js';
import { attr, GraphBuilder, DEFAULT_OPSET, type AttrValue, type ModelOptions } from './builder.js';
import { layerWeights } from './weights.js';

export type BuildOptions = ModelOptions;

// The tensors at the graphs' boundaries: manifests list them and sessions feed and read them by
// these names, so the builders below use the same constants.
const T = { x: 'x', z: 'z', xHat: 'x_hat', zHat: 'z_hat', score: 'score', anomalyMap: 'anomaly_map', prob: 'prob', features: 'features' } as const;

/** The image input of GE, the detector and D (the manifest's input.name). */
export const INPUT_NAME = T.x;

/** Input and output names of each graph, for manifests and sessions. */
export const GRAPH_IO = {
  GE: { inputs: [T.x], outputs: [T.z] },
  GD: { inputs: [T.z], outputs: [T.xHat] },
  E: { inputs: [T.xHat], outputs: [T.zHat] },
  detector: { inputs: [T.x], outputs: [T.score, T.z, T.zHat, T.xHat, T.anomalyMap] },
  discriminator: { inputs: [T.x], outputs: [T.prob, T.features] },
} as const;

function convAttrs(l: LayerPlan): Record<string, AttrValue> {
  const attrs: Record<string, AttrValue> = {
    auto_pad: attr.string('NOTSET'),
    kernel_shape: attr.ints([l.kernel, l.kernel]),
    strides: attr.ints([l.stride, l.stride]),
    pads: attr.ints([l.pad, l.pad, l.pad, l.pad]),
    dilations: attr.ints([1, 1]),
    group: attr.int(1),
  };
  if (l.kind === 'convT') attrs.output_padding = attr.ints([0, 0]);
  return attrs;
}

/** Adds conv (+ BN) (+ activation) for each layer; the last tensor gets `output`. */
function lowerLayers(
  g: GraphBuilder, net: NetName, layers: LayerPlan[], w: WeightMap, input: string, output: string,
): string {
  let x = input;
  layers.forEach((l, i) => {
    const last = i === layers.length - 1;
    const p = `${net}.${l.name}`;
    const steps = 1 + (l.batchNorm ? 1 : 0) + (l.activation === 'none' ? 0 : 1);
    let step = 0;
    const next = (suffix: string): string => (++step === steps && last ? output : `${p}.${suffix}`);
    const lw = layerWeights(w, net, l);
    const kernel = g.addInitializer(`${p}.w`, lw.kernel.dims, lw.kernel.data);
    [x] = g.addNode(l.kind === 'conv' ? 'Conv' : 'ConvTranspose', [x, kernel], [next('conv')], convAttrs(l), `${p}/conv`);
    if (lw.bn) {
      const c = [l.outChannels];
      const bnAttrs: Record<string, AttrValue> = {
        epsilon: attr.float(BN_EPSILON),
        // ONNX momentum weighs the running value, PyTorch's weighs the batch value.
        momentum: attr.float(1 - BN_MOMENTUM),
      };
      if (g.opset >= 14) bnAttrs.training_mode = attr.int(0);
      [x] = g.addNode('BatchNormalization', [
        x,
        g.addInitializer(`${p}.bn.gamma`, c, lw.bn.gamma),
        g.addInitializer(`${p}.bn.beta`, c, lw.bn.beta),
        g.addInitializer(`${p}.bn.mean`, c, lw.bn.mean),
        g.addInitializer(`${p}.bn.var`, c, lw.bn.var),
      ], [next('bn')], bnAttrs, `${p}/bn`);
    }
    if (l.activation === 'lrelu') {
      [x] = g.addNode('LeakyRelu', [x], [next('act')], { alpha: attr.float(LEAKY_ALPHA) }, `${p}/act`);
    } else if (l.activation === 'relu') {
      [x] = g.addNode('Relu', [x], [next('act')], {}, `${p}/act`);
    } else if (l.activation === 'tanh') {
      [x] = g.addNode('Tanh', [x], [next('act')], {}, `${p}/act`);
    }
  });
  return x;
}

/** ReduceMean over `axes`; from opset 18 the axes are an input, before that an attribute. */
function reduceMean(g: GraphBuilder, input: string, axes: number[], keepdims: boolean, output: string): string {
  if (g.opset >= 18) {
    const axesName = g.addInt64Initializer(`${output}.axes`, axes);
    g.addNode('ReduceMean', [input, axesName], [output], {
      keepdims: attr.int(keepdims ? 1 : 0),
      noop_with_empty_axes: attr.int(0),
    });
  } else {
    g.addNode('ReduceMean', [input], [output], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
  }
  return output;
}

function reshape(g: GraphBuilder, input: string, shape: number[], output: string): string {
  const shapeName = g.addInt64Initializer(`${output}.shape`, shape);
  g.addNode('Reshape', [input, shapeName], [output], g.opset >= 14 ? { allowzero: attr.int(0) } : {});
  return output;
}

/** GE or E: image [N,nc,s,s] → latent [N,nz]. */
function addEncoder(g: GraphBuilder, net: 'GE' | 'E', cfg: ModelConfig, w: WeightMap, input: string, output: string): string {
  const plan = encoderPlan(net, cfg, cfg.nz, cfg.ngf);
  const map = lowerLayers(g, net, plan.layers, w, input, `${net}.final.conv`);
  g.addNode('Flatten', [map], [output], { axis: attr.int(1) }, `${net}/flatten`);
  return output;
}

/** GD: latent [N,nz] → image [N,nc,s,s] in [-1,1]. */
function addDecoder(g: GraphBuilder, cfg: ModelConfig, w: WeightMap, input: string, output: string): string {
  const plan = decoderPlan(cfg);
  const z4 = reshape(g, input, [-1, cfg.nz, 1, 1], 'GD.z4d');
  return lowerLayers(g, 'GD', plan.layers, w, z4, output);
}

function imageShape(cfg: ModelConfig): ['N', number, number, number] {
  return ['N', cfg.nc, cfg.isize, cfg.isize];
}

function start(name: string, opts: BuildOptions): GraphBuilder {
  return new GraphBuilder(name, opts.opset ?? DEFAULT_OPSET);
}

/** Encoder GE: 'x' [N,nc,isize,isize] → 'z' [N,nz]. */
export function buildGE(cfg: ModelConfig, w: WeightMap, opts: BuildOptions = {}): Uint8Array {
  const g = start('ganomaly_GE', opts);
  g.addInput(T.x, imageShape(cfg));
  addEncoder(g, 'GE', cfg, w, T.x, T.z);
  g.addOutput(T.z, ['N', cfg.nz]);
  return g.serialize(opts);
}

/** Decoder GD: 'z' [N,nz] → 'x_hat' [N,nc,isize,isize]. */
export function buildGD(cfg: ModelConfig, w: WeightMap, opts: BuildOptions = {}): Uint8Array {
  const g = start('ganomaly_GD', opts);
  g.addInput(T.z, ['N', cfg.nz]);
  addDecoder(g, cfg, w, T.z, T.xHat);
  g.addOutput(T.xHat, imageShape(cfg));
  return g.serialize(opts);
}

/** Second encoder E: 'x_hat' [N,nc,isize,isize] → 'z_hat' [N,nz]. */
export function buildE(cfg: ModelConfig, w: WeightMap, opts: BuildOptions = {}): Uint8Array {
  const g = start('ganomaly_E', opts);
  g.addInput(T.xHat, imageShape(cfg));
  addEncoder(g, 'E', cfg, w, T.xHat, T.zHat);
  g.addOutput(T.zHat, ['N', cfg.nz]);
  return g.serialize(opts);
}

/**
 * GE → GD → E fused, plus the score and a per-pixel map:
 * score = mean over nz of (z − ẑ)² ('l2') or |z − ẑ| ('l1'); anomaly_map = mean over channels of |x − x̂|.
 */
export function buildDetector(cfg: ModelConfig, w: WeightMap, opts: BuildOptions = {}): Uint8Array {
  const g = start('ganomaly_detector', opts);
  g.addInput(T.x, imageShape(cfg));
  addEncoder(g, 'GE', cfg, w, T.x, T.z);
  addDecoder(g, cfg, w, T.z, T.xHat);
  addEncoder(g, 'E', cfg, w, T.xHat, T.zHat);
  g.addNode('Sub', [T.z, T.zHat], ['score.diff']);
  if (cfg.scoreKind === 'l2') g.addNode('Mul', ['score.diff', 'score.diff'], ['score.dist']);
  else g.addNode('Abs', ['score.diff'], ['score.dist']);
  reduceMean(g, 'score.dist', [1], false, T.score);
  g.addNode('Sub', [T.x, T.xHat], ['anomaly_map.diff']);
  g.addNode('Abs', ['anomaly_map.diff'], ['anomaly_map.abs']);
  reduceMean(g, 'anomaly_map.abs', [1], true, T.anomalyMap);
  g.addOutput(T.score, ['N']);
  g.addOutput(T.z, ['N', cfg.nz]);
  g.addOutput(T.zHat, ['N', cfg.nz]);
  g.addOutput(T.xHat, imageShape(cfg));
  g.addOutput(T.anomalyMap, ['N', 1, cfg.isize, cfg.isize]);
  return g.serialize(opts);
}

/** Discriminator D: 'x' → 'prob' [N] (sigmoid) and 'features' (the map before the final conv). */
export function buildDiscriminator(cfg: ModelConfig, w: WeightMap, opts: BuildOptions = {}): Uint8Array {
  const plan = encoderPlan('D', cfg, 1, cfg.ndf);
  const trunk = plan.layers.slice(0, -1);
  const head = plan.layers.slice(-1);
  const lastTrunk = trunk[trunk.length - 1]!;
  const g = start('ganomaly_D', opts);
  g.addInput(T.x, imageShape(cfg));
  lowerLayers(g, 'D', trunk, w, T.x, T.features);
  const logit = lowerLayers(g, 'D', head, w, T.features, 'D.final.conv');
  g.addNode('Sigmoid', [logit], ['D.sigmoid']);
  reshape(g, 'D.sigmoid', [-1], T.prob);
  g.addOutput(T.prob, ['N']);
  g.addOutput(T.features, ['N', lastTrunk.outChannels, lastTrunk.outSize, lastTrunk.outSize]);
  return g.serialize(opts);
}
