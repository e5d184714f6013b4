// A tiny but real training configuration on Fashion-MNIST (CI installs dataset-fashion-mnist).
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../../src/train/trainer.js';

export function tinyTrainConfig(over: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...DEFAULT_TRAIN_CONFIG,
    data: 'fashion-mnist',
    abnormalClass: '0',
    out: mkdtempSync(path.join(os.tmpdir(), 'ganomaly-run-')),
    epochs: 2,
    batchSize: 8,
    model: { isize: 16, nc: 1, nz: 8, ngf: 4, ndf: 4, scoreKind: 'l2' },
    lr: 1e-3,
    seed: 5,
    backend: 'cpu',
    maxImages: 240,
    ...over,
  };
}
