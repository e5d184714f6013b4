// Builds manifest.json: everything a runtime needs to score one image the way training did.
import { defaultPreprocessing } from '@ganomaly-edge/runtime';
import type { TrainConfig } from '../config/train-config.js';
import { MANIFEST_SCHEMA_VERSION, type Manifest, type ScoreStats, type SplitSizes, type Threshold } from '../types.js';
import { INPUT_NAME } from './onnx/index.js';


/** The part of the manifest that defines the model's behaviour; its hash is stamped into every graph's metadata. */
export function manifestCore(name: string, config: TrainConfig, opset: number) {
  const m = config.model;
  return {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    name,
    input: { name: INPUT_NAME, shape: ['N', m.nc, m.isize, m.isize] as Manifest['input']['shape'], dtype: 'float32' as const },
    preprocessing: defaultPreprocessing(m.isize, m.nc),
    score: {
      kind: m.scoreKind,
      description: m.scoreKind === 'l2'
        ? 'mean over nz of (z - z_hat)^2 (the reference implementation)'
        : 'mean over nz of |z - z_hat| (the paper)',
    },
    model: m,
    opset,
    // Only patch models carry the key: a whole-image manifest (and its core hash) stays as it was.
    ...(config.tiling ? { tiling: config.tiling } : {}),
  };
}

export function buildManifest(args: {
  core: ReturnType<typeof manifestCore>;
  config: TrainConfig;
  trainedEpochs: number;
  trainedStepsInEpoch: number;
  split: SplitSizes | null;
  calibration: ScoreStats;
  threshold: Threshold;
  files: Manifest['files'];
  tools: Record<string, string>;
  parity: Record<string, number>;
  variants?: Manifest['variants'];
}): Manifest {
  const { core, config } = args;
  return {
    ...core,
    createdAt: new Date().toISOString(),
    calibration: args.calibration,
    threshold: args.threshold,
    files: args.files,
    training: {
      data: config.data,
      abnormalClass: config.abnormalClass ?? null,
      epochsCompleted: args.trainedEpochs,
      stepsIntoNextEpoch: args.trainedStepsInEpoch,
      epochsRequested: config.epochs,
      batchSize: config.batchSize,
      lr: config.lr,
      betas: [config.beta1, config.beta2],
      lossWeights: config.weights,
      seed: config.seed,
      maxImages: config.maxImages ?? null,
      validationFraction: config.validationFraction,
    },
    split: args.split,
    tools: args.tools,
    parity: args.parity,
    ...(args.variants && Object.keys(args.variants).length > 0 ? { variants: args.variants } : {}),
  };
}
