// Public training API: `import { train } from 'ganomaly-edge/train'`.
export { train, scoreSet, readRunConfig, validateTrainConfig, DEFAULT_TRAIN_CONFIG, TrainError } from './trainer.js';
export type { TrainConfig, TrainOptions, TrainResult, TrainEvent, EpochSummary, ResumeOverrides } from './trainer.js';
export { GanomalyModel, latentDistance } from './model.js';
export { GanomalyStep, type StepLosses } from './step.js';
export { setFusedKernels, fusedKernelsActive } from '../backend/fused/ops.js';
export * from './architecture.js';
export { selectBackend, BackendError, enableNativeConvKernels, disableNativeConvKernels, type BackendRequest } from '../backend/index.js';
export { loadDataset, DataError, type Dataset, type ImageSet } from '../data/index.js';
export { CheckpointError, loadCheckpoint } from './checkpoint.js';
export type * from '../types.js';
