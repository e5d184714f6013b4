// The GANomaly layer plan, independent of any tensor library: the tfjs model (model.ts) and the
// ONNX writer (src/export) both walk the same plan, so training and export cannot drift apart.
import { checkRange, MAX_MODEL_BYTES, TRAIN_RANGES } from '../option-ranges.js';
import type { ModelConfig, NetName } from '../types.js';

/** A model configuration out of range (isize, nc, nz, widths, score kind): a bad argument, so a RangeError. */
export class ConfigError extends RangeError {
  override name = 'ConfigError';
  readonly code = 'invalid_model_config';
}

export type Activation = 'lrelu' | 'relu' | 'tanh' | 'none';

/** One convolution (or transposed convolution) followed by optional BatchNorm and an activation. */
export interface LayerPlan {
  /** Layer id inside its network: 'conv0', 'conv1', …, 'final' (encoders); 'convt0', …, 'final' (decoder). */
  name: string;
  kind: 'conv' | 'convT';
  kernel: number;
  stride: number;
  /** Symmetric padding in PyTorch terms (0 or 1 here). */
  pad: number;
  inChannels: number;
  outChannels: number;
  inSize: number;
  outSize: number;
  batchNorm: boolean;
  activation: Activation;
}

export interface NetPlan {
  net: NetName;
  layers: LayerPlan[];
}

/** LeakyReLU slope of the reference (nn.LeakyReLU(0.2)). */
export const LEAKY_ALPHA = 0.2;
/** BatchNorm epsilon and momentum of PyTorch's nn.BatchNorm2d defaults. */
export const BN_EPSILON = 1e-5;
export const BN_MOMENTUM = 0.1;

export const DEFAULT_MODEL_CONFIG: ModelConfig = {
  isize: 32,
  nc: 1,
  nz: 100,
  ngf: 64,
  ndf: 64,
  scoreKind: 'l2',
};

/** Each field in its range (option-ranges.ts TRAIN_RANGES), without the whole model's size: what the plans need. */
function checkModelFields(cfg: ModelConfig, prefix = ''): void {
  const { isize, nc, nz, ngf, ndf, scoreKind } = cfg;
  const R = TRAIN_RANGES;
  checkRange(R.isize, isize, `${prefix}isize`, ConfigError);
  checkRange(R.channels, nc, `${prefix}nc`, ConfigError);
  checkRange(R.nz, nz, `${prefix}nz`, ConfigError);
  checkRange(R.ngf, ngf, `${prefix}ngf`, ConfigError);
  checkRange(R.ndf, ndf, `${prefix}ndf`, ConfigError);
  if (scoreKind !== 'l2' && scoreKind !== 'l1') {
    throw new ConfigError(`${prefix}scoreKind must be 'l2' or 'l1'; got ${String(scoreKind)}`);
  }
}

/**
 * Every field in its range, and the four networks' float32 weights together at most
 * MAX_MODEL_BYTES: the widths double at each halving of the input, so widths that are fine at
 * isize 32 make a model of many GiB at 512, which tfjs cannot even allocate ("Invalid typed array
 * length"). A ConfigError (a RangeError) either way, before anything is built or written.
 * `prefix` goes before the field names in messages ('model.' inside a TrainConfig).
 */
export function validateModelConfig(cfg: ModelConfig, prefix = ''): void {
  checkModelFields(cfg, prefix);
  const bytes = modelWeightBytes(cfg);
  if (bytes > MAX_MODEL_BYTES) {
    const gib = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GiB`;
    throw new ConfigError(
      `isize ${cfg.isize}, nz ${cfg.nz}, ngf ${cfg.ngf}, ndf ${cfg.ndf} make ${gib(bytes)} of float32 weights (GE, GD, E, D); at most ${gib(MAX_MODEL_BYTES)}: lower ngf, ndf, nz or isize`,
    );
  }
}

/** Bytes of the four networks' float32 weights (BatchNorm statistics included) for a config. */
export function modelWeightBytes(cfg: ModelConfig): number {
  const plans = ganomalyPlans(cfg);
  let n = 0;
  for (const plan of Object.values(plans)) for (const p of planParams(plan)) n += p.shape.reduce((a, b) => a * b, 1);
  return 4 * n;
}

/**
 * Size of the last feature map before the final conv. The reference halves while the map is
 * larger than 4, which only terminates at 4 for powers of two; stopping at an odd size and using
 * that size as the final kernel gives the identical network for 32/64/128 and also supports
 * 48, 80, 96, … (which break the reference).
 */
export function finalMapSize(isize: number): number {
  let s = isize / 2;
  while (s > 4 && s % 2 === 0) s /= 2;
  return s;
}

/** Encoder (GE, E, and D's trunk): conv s2 → (conv s2 + BN + LReLU)* → final conv to nOut x 1 x 1. */
export function encoderPlan(net: NetName, cfg: ModelConfig, nOut: number, width: number): NetPlan {
  checkModelFields(cfg);
  const layers: LayerPlan[] = [];
  let size = cfg.isize / 2;
  let ch = width;
  layers.push({
    name: 'conv0', kind: 'conv', kernel: 4, stride: 2, pad: 1,
    inChannels: cfg.nc, outChannels: ch, inSize: cfg.isize, outSize: size,
    batchNorm: false, activation: 'lrelu',
  });
  const last = finalMapSize(cfg.isize);
  let i = 1;
  while (size > last) {
    layers.push({
      name: `conv${i}`, kind: 'conv', kernel: 4, stride: 2, pad: 1,
      inChannels: ch, outChannels: ch * 2, inSize: size, outSize: size / 2,
      batchNorm: true, activation: 'lrelu',
    });
    ch *= 2;
    size /= 2;
    i++;
  }
  layers.push({
    name: 'final', kind: 'conv', kernel: last, stride: 1, pad: 0,
    inChannels: ch, outChannels: nOut, inSize: size, outSize: 1,
    batchNorm: false, activation: 'none',
  });
  return { net, layers };
}

/** Decoder GD: convT to last x last + BN + ReLU → (convT s2 + BN + ReLU)* → convT s2 to nc, Tanh. */
export function decoderPlan(cfg: ModelConfig): NetPlan {
  checkModelFields(cfg);
  const last = finalMapSize(cfg.isize);
  // Channel width at the smallest map mirrors the encoder: ngf · 2^(number of halvings after conv0).
  let ch = cfg.ngf;
  for (let s = cfg.isize / 2; s > last; s /= 2) ch *= 2;
  const layers: LayerPlan[] = [
    {
      name: 'convt0', kind: 'convT', kernel: last, stride: 1, pad: 0,
      inChannels: cfg.nz, outChannels: ch, inSize: 1, outSize: last,
      batchNorm: true, activation: 'relu',
    },
  ];
  let size = last;
  let i = 1;
  while (size < cfg.isize / 2) {
    layers.push({
      name: `convt${i}`, kind: 'convT', kernel: 4, stride: 2, pad: 1,
      inChannels: ch, outChannels: ch / 2, inSize: size, outSize: size * 2,
      batchNorm: true, activation: 'relu',
    });
    ch /= 2;
    size *= 2;
    i++;
  }
  layers.push({
    name: 'final', kind: 'convT', kernel: 4, stride: 2, pad: 1,
    inChannels: ch, outChannels: cfg.nc, inSize: size, outSize: size * 2,
    batchNorm: false, activation: 'tanh',
  });
  return { net: 'GD', layers };
}

/** The four networks. D is the encoder with one output whose final conv is followed by a sigmoid. */
export function ganomalyPlans(cfg: ModelConfig): Record<NetName, NetPlan> {
  return {
    GE: encoderPlan('GE', cfg, cfg.nz, cfg.ngf),
    GD: decoderPlan(cfg),
    E: encoderPlan('E', cfg, cfg.nz, cfg.ngf),
    D: encoderPlan('D', cfg, 1, cfg.ndf),
  };
}

/** Weight names and tfjs shapes for one layer. Conv kernels are HWIO; transposed-conv kernels are [h, w, out, in]. */
export function layerParams(net: NetName, l: LayerPlan): { name: string; shape: number[] }[] {
  const k = l.kernel;
  const w = l.kind === 'conv'
    ? [k, k, l.inChannels, l.outChannels]
    : [k, k, l.outChannels, l.inChannels];
  const out = [{ name: `${net}.${l.name}.w`, shape: w }];
  if (l.batchNorm) {
    for (const p of ['gamma', 'beta', 'mean', 'var']) out.push({ name: `${net}.${l.name}.bn.${p}`, shape: [l.outChannels] });
  }
  return out;
}

export function planParams(plan: NetPlan): { name: string; shape: number[] }[] {
  return plan.layers.flatMap((l) => layerParams(plan.net, l));
}

/** Trainable parameter count (BN moving statistics excluded), to compare with the reference. */
export function countTrainable(plan: NetPlan): number {
  return planParams(plan)
    .filter((p) => !p.name.endsWith('.bn.mean') && !p.name.endsWith('.bn.var'))
    .reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
}
