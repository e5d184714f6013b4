// ganomaly-edge runtime for Node: onnxruntime-node (CUDA when its libraries are present, else CPU)
// and sharp for decoding. Everything platform-neutral lives in ./core.
import { checkRange, RUNTIME_RANGES } from '../option-ranges.js';
import { Detector, type DetectorOptions } from './core/detector.js';
import { DEFAULT_LIMIT_INPUT_PIXELS, type NodeImageInput } from './node/decode.js';
import { nodePlatform, NODE_DEFAULT_PROVIDERS, type OrtLogLevel } from './node/platform.js';

export * from './core/index.js';
export type { NodeImageInput } from './node/decode.js';
export type { OrtLogLevel } from './node/platform.js';
export { renderHeatmapPng, type HeatmapPngOptions } from './node/heatmap.js';
export { decodeNodeImage, loadSharp, MAX_IMAGE_FILE_BYTES, readImageFile } from './node/decode.js';
export { displayPath, isNotFound, MAX_READ_BYTES, READ_CHUNK_BYTES, readRegularFile, readTextFile } from './node/read.js';
export { MAX_DETECTOR_BYTES, MAX_MANIFEST_BYTES } from './core/model-source.js';
export { loadOrtNode } from './node/ort-node.js';
export {
  bytesPerSample,
  CORE_IMAGE_FORMATS,
  decodedByteSize,
  decodeMemoryBytes,
  IMAGE_FORMATS,
  imageExtensions,
  imageFormatOfMediaType,
  imageMediaTypes,
  readImageInfo,
  type ImageFormatInfo,
  type ImageFormatName,
  type ImageInfo,
} from './node/image-formats.js';
export { DEFAULT_LIMIT_INPUT_PIXELS, NODE_DEFAULT_PROVIDERS };

export interface NodeDetectorOptions extends DetectorOptions {
  /** Largest image (width × height) sharp will decode, 1 to 10⁹. Default 100 megapixels. */
  limitInputPixels?: number;
  /** Extra onnxruntime-node session options (intraOpNumThreads, …). */
  sessionOptions?: Record<string, unknown>;
  /**
   * onnxruntime-node's own stderr logging (process-wide, fixed at ORT's first session). Default:
   * 'fatal' if still at ORT's default, because the runtime reports provider failures itself.
   */
  ortLogLevel?: OrtLogLevel;
  /**
   * Run the ONNX Runtime session in a worker thread, so scoring does not block this thread's
   * event loop (servers). Same scores; inputs and outputs move between threads by transfer.
   * Default false.
   */
  sessionInWorker?: boolean;
}

export type NodeDetector = Detector<NodeImageInput>;

/**
 * Loads a model folder (or URL, or bytes) and returns a detector that scores file paths,
 * encoded image buffers and raw pixels. Default providers: ['cuda', 'cpu'].
 */
export function createDetector(options: NodeDetectorOptions): Promise<NodeDetector> {
  let limitInputPixels: number;
  try {
    limitInputPixels = checkRange(RUNTIME_RANGES.limitInputPixels, options.limitInputPixels ?? DEFAULT_LIMIT_INPUT_PIXELS, 'limitInputPixels');
  } catch (e) {
    return Promise.reject(e);
  }
  const platform = nodePlatform({
    limitInputPixels,
    sessionOptions: options.sessionOptions,
    ortLogLevel: options.ortLogLevel,
    sessionInWorker: options.sessionInWorker,
  });
  return Detector.create<NodeImageInput>(platform, options);
}
