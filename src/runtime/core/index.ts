// The platform-neutral runtime: what both entries (node.ts, web.ts) re-export.
export { Detector, DEFAULT_MAX_BATCH, OPTIONAL_OUTPUTS } from './detector.js';
export type { DetectorOptions, ImageTensor, OptionalOutput, ScoreOptions, ScoreResult } from './detector.js';
export {
  ChannelMismatchError,
  DisposedError,
  ImageDecodeError,
  InputLimitError,
  IntegrityError,
  InvalidImageError,
  ManifestError,
  MissingDependencyError,
  ModelLoadError,
  ModelNotFoundError,
  NonFiniteScoreError,
  ProviderError,
} from './errors.js';
export { parseManifest, SUPPORTED_SCHEMA_VERSIONS, DETECTOR_FILE, DETECTOR_OUTPUTS } from './manifest.js';
export { fetchModelFiles, loadModel } from './model-source.js';
export type { LoadedModel, ModelBytes, ModelSource, ModelUrls } from './model-source.js';
export type { ExecutionProvider, FloatTensor, InferenceHandle, Logger, ModelFiles, RuntimePlatform } from './platform.js';
export { isAnomalous, normalizeScore } from './scores.js';
export { anomalyMapToPixels, reconstructionToPixels, turbo } from './visual.js';
export type { HeatmapOptions } from './visual.js';
export type { RawPixels } from './images.js';
export { createOrtHandle } from './ort-adapter.js';
export type { OrtModuleLike } from './ort-adapter.js';
export { sha256Hex } from './sha256.js';
