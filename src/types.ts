// Types shared by training, export and runtime. Nothing here may import tfjs, sharp or
// onnxruntime: the browser runtime bundle includes this file.

/** Which latent distance turns (z, ẑ) into an anomaly score. */
export type ScoreKind = 'l2' | 'l1';

/** Model hyper-parameters that fix the network shapes. */
export interface ModelConfig {
  /** Square input side in pixels: a multiple of 16, at least 16. */
  isize: number;
  /** Input channels: 1 (grey) or 3 (RGB). */
  nc: 1 | 3;
  /** Latent size. */
  nz: number;
  /** Base channel width of the encoders and decoder. */
  ngf: number;
  /** Base channel width of the discriminator (the reference uses ngf for both). */
  ndf: number;
  /** 'l2' = mean over nz of (z − ẑ)² (the reference); 'l1' = mean |z − ẑ| (the paper). */
  scoreKind: ScoreKind;
}

export interface LossWeights {
  adv: number;
  con: number;
  enc: number;
}

/** Names the four networks of GANomaly. */
export type NetName = 'GE' | 'GD' | 'E' | 'D';

/** A dense float tensor in tfjs layout (NHWC activations; conv kernels HWIO; transposed-conv kernels [h, w, out, in]). */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** All weights of a model, keyed `${net}.${layer}.${param}` (see src/train/architecture.ts). */
export type WeightMap = Record<string, NamedTensor>;

/** How 0-255 pixels become model input: x = (p / 255 − mean) / std per channel. */
export interface Preprocessing {
  /** Channel order of the model input. 'gray' for nc = 1. */
  channelOrder: 'gray' | 'rgb';
  /** Layout of the model input tensor. */
  layout: 'NCHW';
  /** Resize rule applied before normalisation. */
  resize: { width: number; height: number; fit: 'fill'; kernel: 'bilinear' };
  /** Per-channel mean and std in [0,1] units; (0.5, 0.5) maps pixels to [-1, 1] for the Tanh decoder. */
  mean: number[];
  std: number[];
}

/** Statistics of validation-normal scores used for calibration. */
export interface ScoreStats {
  count: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface SplitSizes {
  seed: number;
  abnormalClass: string;
  trainNormal: number;
  validationNormal: number;
  testNormal: number;
  testAbnormal: number;
}

export const MANIFEST_SCHEMA_VERSION = 1;

/**
 * Numeric precision of a detector graph's weights. 'fp32' is detector.onnx itself; 'fp16' stores
 * conv weights as float16 (Cast to float32 in the graph); 'int8' stores them as per-channel
 * symmetric int8 (DequantizeLinear in the graph). Computation is float32 in every variant.
 */
export type Precision = 'fp32' | 'fp16' | 'int8';

export const PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'int8'];

/**
 * The decision threshold and how it was chosen. `method` and `quantile` are the rule as data (what
 * `quantize` and tools read); `rule` is the same in words for people. Manifests written before the
 * data fields existed carry only `value` and `rule`.
 */
export interface Threshold {
  value: number;
  rule: string;
  /** 'quantile': the `quantile` of `of` validation-normal scores; 'absolute': set by the user. */
  method?: 'quantile' | 'absolute';
  quantile?: number;
  /** How many validation-normal scores the quantile was taken over. */
  of?: number;
}

/** A reduced-precision copy of detector.onnx, described in manifest.variants. */
export interface PrecisionVariant {
  /** Its file in the model folder (listed in manifest.files with sha256 and size). */
  file: string;
  /** How the weights are stored, in words. */
  weights: string;
  /** Validation-normal score statistics measured through ONNX Runtime on this variant. */
  calibration: ScoreStats;
  /** This variant's own threshold, by the same rule as the float32 one. */
  threshold: Threshold;
  /** Largest absolute difference from detector.onnx (float32) per output over `images` validation images. */
  parityVsFp32: { images: number } & Record<string, number>;
}

/**
 * How a patch (tiled) model sees a frame: the frame is resized to `frame` (or kept at its own size
 * with 'any'), cut into `tile`×`tile` squares every `stride` pixels (the last row and column are
 * moved in to end at the frame's edge, so every pixel is covered), each square scored by the model,
 * and the tile scores reduced to the frame's score.
 */
export interface Tiling {
  /** Tile side in pixels of the (resized) frame; equals the model's input size (model.isize). */
  tile: number;
  /** Pixels between the starts of neighbouring tiles, 1..tile (tile: no overlap). */
  stride: number;
  /** Size every frame is resized to before cutting, or 'any' (frames are cut at their own size). */
  frame: { width: number; height: number } | 'any';
  /** Tile scores → frame score: the worst tile decides. */
  reduce: 'max';
}

/** manifest.json written by `ganomaly export`, read by the runtime. Every field is documented in the README. */
export interface Manifest {
  schemaVersion: number;
  name: string;
  createdAt: string;
  input: { name: string; shape: [number | 'N', number, number, number]; dtype: 'float32' };
  preprocessing: Preprocessing;
  score: { kind: ScoreKind; description: string };
  calibration: ScoreStats;
  threshold: Threshold;
  files: Record<string, { sha256: string; bytes: number; inputs: string[]; outputs: string[] }>;
  model: ModelConfig;
  training: Record<string, unknown>;
  split: SplitSizes | null;
  opset: number;
  tools: Record<string, string>;
  parity: Record<string, number> | null;
  /**
   * Present for patch models: how frames are cut into tiles. Calibration and threshold are then
   * over validation frames' reduced scores, so isAnomaly judges the frame. Absent: whole images.
   */
  tiling?: Tiling;
  /** Reduced-precision detectors (absent in models exported before precision variants existed). */
  variants?: Partial<Record<Exclude<Precision, 'fp32'>, PrecisionVariant>>;
}
