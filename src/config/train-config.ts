// The training configuration, defined once for every stage that reads it: the Node trainer and
// the CLI (TrainConfig, with its data and run folder), the browser trainer (TrainingSettings only),
// export (the manifest's training section) and resume (which fields a run may change).
import type { BackendRequest } from '../backend/select.js';
import { checkOptionalRange, checkRange, TRAIN_RANGES } from '../option-ranges.js';
import { DEFAULT_MODEL_CONFIG, validateModelConfig } from '../train/architecture.js';
import { checkTiling } from '@ganomaly-edge/runtime';
import type { LossWeights, ModelConfig, Tiling } from '../types.js';

/** What a run trains: the network, the optimiser and the split seed; nothing about files. */
export interface TrainingSettings {
  model: ModelConfig;
  /** Epochs, 1-100000. Every number's range is in TRAIN_RANGES (option-ranges.ts). */
  epochs: number;
  /** Images per step, 2-65536 (BatchNorm needs batch statistics). */
  batchSize: number;
  /** Adam learning rate, 0-10. */
  lr: number;
  /** Adam betas, each in [0, 1). */
  beta1: number;
  beta2: number;
  /** Generator loss weights (adversarial, contextual, encoder), each 0-10⁶. */
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
  /** Use at most this many images in total (quick runs), 2 to 10⁹. */
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

export const MAX_EPOCHS = TRAIN_RANGES.epochs.max;
export const MAX_BATCH_SIZE = TRAIN_RANGES.batchSize.max;

/**
 * Checks the settings once before training (Node and browser alike), against the ranges the CLI
 * uses too (option-ranges.ts TRAIN_RANGES); bad values are RangeErrors naming the field and its range.
 */
export function validateTrainConfig(c: TrainingSettings): void {
  validateModelConfig(c.model, 'model.');
  const R = TRAIN_RANGES;
  checkRange(R.epochs, c.epochs, 'epochs');
  checkRange(R.batchSize, c.batchSize, 'batchSize');
  checkRange(R.lr, c.lr, 'lr');
  checkRange(R.beta1, c.beta1, 'beta1');
  checkRange(R.beta2, c.beta2, 'beta2');
  checkRange(R.wAdv, c.weights?.adv, 'weights.adv');
  checkRange(R.wCon, c.weights?.con, 'weights.con');
  checkRange(R.wEnc, c.weights?.enc, 'weights.enc');
  checkRange(R.validationFraction, c.validationFraction, 'validationFraction');
  checkRange(R.seed, c.seed, 'seed');
  checkOptionalRange(R.maxImages, (c as Partial<TrainConfig>).maxImages, 'maxImages');
  if (c.tiling !== undefined) {
    checkOptionalRange(R.tile, c.tiling?.tile, 'tiling.tile');
    checkOptionalRange(R.tileStride, c.tiling?.stride, 'tiling.stride');
    checkTiling(c.tiling, c.model.isize);
  }
}
