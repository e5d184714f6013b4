// The platform-neutral runtime: what both entries (node.ts, web.ts) re-export.
export { Detector, DEFAULT_DECODE_CONCURRENCY, DEFAULT_MAX_BATCH, OPTIONAL_OUTPUTS } from './detector.js';
export type { DetectorOptions, ImageTensor, OptionalOutput, ScoreOptions, ScoreOutput, ScoreResult, TileScore } from './detector.js';
export { assembleTileMaps, boxInSource, checkTiling, cutFrameTiles, MAX_TILES_PER_FRAME, MAX_TILING_FRAME_SIDE, tileAt, tileGrid, tilingProblems } from './tiling.js';
export type { FrameTiles, TileBox } from './tiling.js';
export {
  ChannelMismatchError,
  DisposedError,
  GanomalyError,
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
  UnresolvedModuleError,
} from './errors.js';
export { parseManifest, selectPrecision, SUPPORTED_SCHEMA_VERSIONS, DETECTOR_FILE, MANIFEST_FILE, REDUCED_PRECISIONS } from './manifest.js';
export type { Manifest, Precision, PrecisionVariant, Tiling } from '../../types.js';
export { fetchModelFiles, loadModel } from './model-source.js';
export type { LoadedModel, ModelBytes, ModelSource, ModelUrls } from './model-source.js';
export type { ExecutionProvider, FloatTensor, InferenceHandle, Logger, ModelFiles, RuntimePlatform } from './platform.js';
export { isAnomalous, normalizeScore } from './scores.js';
export { anomalyMapToPixels, reconstructionToPixels, turbo } from './visual.js';
export type { HeatmapOptions } from './visual.js';
export type { RawPixels } from './images.js';
export type { RawImage } from './pixels.js';
export { inputSize, isRawPixels, preprocessPixels } from './images.js';
export { checkRawPixels, defaultPreprocessing, preprocessImage } from './pixels.js';
export { createOrtHandle, ORT_CONFIG_ENTRIES } from './ort-adapter.js';
export type { OrtModuleLike } from './ort-adapter.js';
export { sha256Hex } from './sha256.js';
export { manifestCoreSha256, onnxMetadataValue, MANIFEST_CORE_METADATA_KEY } from './manifest-core.js';
