// The training configuration, defined once for every stage that reads it: the Node trainer and
// the CLI (TrainConfig, with its data and run folder), the browser trainer (TrainingSettings only),
// export (the manifest's training section) and resume (which fields a run may change).
import type { BackendRequest } from '../backend/select.js';
import { DEFAULT_MODEL_CONFIG, validateModelConfig } from '../train/architecture.js';
import { checkTiling } from '@ganomaly-edge/runtime';
import type { LossWeights, ModelConfig, Tiling } from '../types.js';

/** What a run trains: the network, the optimiser and the split seed; nothing about files. */
export interface TrainingSettings {
  model: ModelConfig;
  /** Epochs, 1-100000. */
  epochs: number;
  /** Images per step, 2-65536 (BatchNorm needs batch statistics). */
  batchSize: number;
  /** Adam learning rate, finite, ≥ 0. */
  lr: number;
  /** Adam betas, each in [0, 1). */
  beta1: number;
  beta2: number;
  /** Generator loss weights (adversarial, contextual, encoder), each finite and ≥ 0. */
  weights: LossWeights;
  /** Fixes the split, the initial weights and the batch order: an integer 0-2³²−1. */
  seed: number;
  /** Share of the training normals held out for calibration, in (0, 1). */
  validationFraction: number;
  /**
   * Patch model: train on tiles of each image (tile = model.isize), calibrate and judge frames by
   * their worst tile. Absent: whole images resized to the model's input.
   */
  tiling?: Tiling;
}

/** A Node training run: the settings plus where the data comes from and where the run goes. */
export interface TrainConfig extends TrainingSettings {
  /** Dataset spec: 'fashion-mnist', 'mnist', 'idx:<dir>' or 'folder:<dir>'. */
  data: string;
  /** Class held out as the anomaly (IDX data): index or name. Folders use their abnormal/ subfolder. */
  abnormalClass?: string;
  /** Run folder. */
  out: string;
  backend: BackendRequest;
  /** Use at most this many images in total (quick runs). */
  maxImages?: number;
  /** Folder data: leave out images that fail to decode (listed as warnings) instead of failing. */
  skipBadImages?: boolean;
}

export const DEFAULT_TRAIN_CONFIG: Omit<TrainConfig, 'data' | 'out'> = {
  epochs: 15,
  batchSize: 64,
  model: DEFAULT_MODEL_CONFIG,
  lr: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  weights: { adv: 1, con: 50, enc: 1 },
  seed: 0,
  backend: 'auto',
  validationFraction: 0.1,
};

/**
 * Laptop-sized defaults for training in a page: ngf = ndf = 16 (1/16 of the reference's conv
 * work), batch 16, 10 epochs; everything else as DEFAULT_TRAIN_CONFIG.
 */
export const BROWSER_TRAIN_DEFAULTS: TrainingSettings = {
  model: { ...DEFAULT_MODEL_CONFIG, ngf: 16, ndf: 16 },
  epochs: 10,
  batchSize: 16,
  lr: DEFAULT_TRAIN_CONFIG.lr,
  beta1: DEFAULT_TRAIN_CONFIG.beta1,
  beta2: DEFAULT_TRAIN_CONFIG.beta2,
  weights: DEFAULT_TRAIN_CONFIG.weights,
  seed: DEFAULT_TRAIN_CONFIG.seed,
  validationFraction: DEFAULT_TRAIN_CONFIG.validationFraction,
};

/** The fields a resumed run may change; everything else (data, model, split, seed, batch) is the run's. */
export type ResumeOverrides = Partial<Pick<TrainConfig, 'epochs' | 'backend' | 'lr' | 'beta1' | 'beta2'>> & { weights?: Partial<LossWeights> };

export const MAX_EPOCHS = 100_000;
export const MAX_BATCH_SIZE = 65_536;

/** Checks the settings once before training (Node and browser alike); bad values are RangeErrors. */
export function validateTrainConfig(c: TrainingSettings): void {
  validateModelConfig(c.model);
  for (const [k, v, max] of [['epochs', c.epochs, MAX_EPOCHS], ['batchSize', c.batchSize, MAX_BATCH_SIZE]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > max) throw new RangeError(`${k} must be an integer from 1 to ${max}; got ${v}`);
  }
  if (c.batchSize < 2) throw new RangeError('batchSize must be at least 2 (BatchNorm needs batch statistics)');
  for (const [k, v] of Object.entries({ lr: c.lr, beta1: c.beta1, beta2: c.beta2, ...c.weights })) {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`${k} must be a finite non-negative number; got ${v}`);
  }
  // Adam's bias correction divides by 1 − beta^t: beta 1 divides by zero, beta > 1 flips signs.
  for (const [k, v] of Object.entries({ beta1: c.beta1, beta2: c.beta2 })) {
    if (!(v >= 0 && v < 1)) throw new RangeError(`${k} must be in [0, 1) (Adam divides by 1 − ${k}^t); got ${v}`);
  }
  if (!(c.validationFraction > 0 && c.validationFraction < 1)) throw new RangeError(`validationFraction must be in (0, 1); got ${c.validationFraction}`);
  if (!Number.isInteger(c.seed) || c.seed < 0 || c.seed > 0xffff_ffff) throw new RangeError(`seed must be an integer from 0 to 4294967295; got ${c.seed}`);
  if (c.tiling !== undefined) checkTiling(c.tiling, c.model.isize);
}
