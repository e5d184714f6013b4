// Public API of the ONNX writer: graph builders for the GANomaly networks and a structural validator.
export {
  buildGE,
  buildGD,
  buildE,
  buildDetector,
  buildDiscriminator,
  GRAPH_IO,
  INPUT_NAME,
  type BuildOptions,
} from './lower.js';
export {
  GraphBuilder,
  OnnxBuildError,
  attr,
  irVersionForOpset,
  DEFAULT_OPSET,
  MIN_OPSET,
  MAX_OPSET,
  PRODUCER_NAME,
  type AttrValue,
  type Dim,
  type ModelOptions,
} from './builder.js';
export { WeightMapError, permute3201 } from './weights.js';
export { OnnxValidationError, validateModel, validateModelBytes, decodeModel, KNOWN_OPS } from './validate.js';
export {
  convertDetectorPrecision,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  quantizePerChannel,
  VARIANT_FILES,
  VARIANT_WEIGHTS,
  type ReducedPrecision,
} from './precision.js';
