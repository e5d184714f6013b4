// Public export API: `import { exportRun } from 'ganomaly-edge/export'`.
export { exportRun, type ExportOptions, type ExportResult } from './exportRun.js';
export { ExportError, ParityError } from './errors.js';
export { checkParity, PARITY_TOLERANCE, type ParityReport } from './parity.js';
export { calibrate, type ThresholdRule } from './calibrate.js';
export { readRunFolder, type RunFolder } from './runFolder.js';
export * from './onnx/index.js';
export { writeTritonRepository, type TritonOptions } from './triton.js';
export { buildVariants, quantizeModel, parsePrecisions, type BuiltVariant, type QuantizeOptions } from './variants.js';
export { nodeOrt } from './ortNode.js';
export { ortRunner, type OrtRunner, type RunnerSession } from './ort-runner.js';
export { buildModelFolder, type ModelFolder, type ModelFolderOptions, type ModelFolderSource } from './model-folder.js';
export { thresholdRuleOf, checkThresholdRule, DEFAULT_THRESHOLD_QUANTILE } from './calibrate.js';
export type { StageEvent } from '../progress.js';
