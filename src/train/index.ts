// Public training API: `import { train } from 'ganomaly-edge/train'`.
export { train, scoreSet, readRunConfig, TrainError } from './trainer.js';
export type { TrainOptions, TrainResult, TrainEvent, EpochSummary } from './trainer.js';
export { DEFAULT_TRAIN_CONFIG, BROWSER_TRAIN_DEFAULTS, validateTrainConfig, type ResumeOverrides, type TrainConfig, type TrainingSettings } from '../config/train-config.js';
export type { StageEvent } from '../progress.js';
export { GanomalyModel, latentDistance } from './model.js';
export { GanomalyStep, type StepLosses } from './step.js';
export { setFusedKernels, fusedKernelsActive } from '../backend/fused/ops.js';
export * from './architecture.js';
export { selectBackend, BackendError, enableNativeConvKernels, disableNativeConvKernels, type BackendRequest } from '../backend/index.js';
export { loadDataset, DataError, type Dataset, type ImageSet } from '../data/index.js';
export { CheckpointError, loadCheckpoint } from './checkpoint.js';
export type * from '../types.js';
