// Structural checks over a decoded ModelProto for the op subset this package writes. It does not
// replace the official checker (no shape inference); it catches what a writer bug would produce:
// dangling names, out-of-order nodes, truncated weights, missing opsets or attributes.
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType, type ModelProto, type TensorProto } from '../proto/onnx_pb.js';
import { GanomalyError } from '@ganomaly-edge/runtime';

export class OnnxValidationError extends GanomalyError {
  override name = 'OnnxValidationError';
  readonly code = 'onnx_invalid';
  /** The node or tensor the problem is about ('' for model-level problems). */
  readonly subject: string;
  constructor(subject: string, message: string) {
    super(subject ? `${subject}: ${message}` : message);
    this.subject = subject;
  }
}

/** Attributes that must be written explicitly because the ONNX defaults differ from ours or tfjs's. */
const REQUIRED_ATTRS: Record<string, string[]> = {
  Conv: ['kernel_shape', 'strides', 'pads', 'dilations', 'group'],
  ConvTranspose: ['kernel_shape', 'strides', 'pads', 'dilations', 'group'],
  BatchNormalization: ['epsilon'],
  LeakyRelu: ['alpha'],
  Relu: [],
  Tanh: [],
  Sigmoid: [],
  Flatten: ['axis'],
  Reshape: [],
  Sub: [],
  Mul: [],
  Abs: [],
  ReduceMean: ['keepdims'],
  // Precision variants (precision.ts): weights stored as float16 / int8, turned into float32 in-graph.
  Cast: ['to'],
  DequantizeLinear: ['axis'],
};

export const KNOWN_OPS: readonly string[] = Object.keys(REQUIRED_ATTRS);

const ELEMENT_BYTES: Partial<Record<number, number>> = {
  [TensorProto_DataType.FLOAT]: 4,
  [TensorProto_DataType.INT64]: 8,
  [TensorProto_DataType.FLOAT16]: 2,
  [TensorProto_DataType.INT8]: 1,
};

export function decodeModel(bytes: Uint8Array): ModelProto {
  try {
    return fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    throw new OnnxValidationError('', `not a decodable ONNX ModelProto (${(e as Error).message})`);
  }
}

function checkInitializer(t: TensorProto): void {
  const bytes = ELEMENT_BYTES[t.dataType];
  if (bytes === undefined) throw new OnnxValidationError(t.name, `unsupported initializer data type ${t.dataType}`);
  if (t.dims.some((d) => d < 0n)) throw new OnnxValidationError(t.name, `negative dimension in [${t.dims.join(',')}]`);
  const count = Number(t.dims.reduce((a, b) => a * b, 1n));
  const stored = t.rawData.length > 0
    ? t.rawData.length / bytes
    : t.dataType === TensorProto_DataType.FLOAT ? t.floatData.length : t.int64Data.length;
  if (stored !== count) {
    throw new OnnxValidationError(
      t.name, `dims [${t.dims.join(',')}] need ${count} elements (${count * bytes} bytes); the tensor holds ${stored}`);
  }
}

/** Throws OnnxValidationError naming the first offending node or tensor. */
export function validateModel(model: ModelProto): void {
  if (model.irVersion <= 0n) throw new OnnxValidationError('', 'ir_version is not set');
  const defaultOpset = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  if (!defaultOpset) throw new OnnxValidationError('', 'no opset_import for the default ONNX domain');
  const opset = Number(defaultOpset.version);
  if (opset < 1) throw new OnnxValidationError('', `invalid default-domain opset ${opset}`);
  const graph = model.graph;
  if (!graph) throw new OnnxValidationError('', 'model has no graph');

  const available = new Set<string>();
  const define = (name: string, what: string): void => {
    if (!name) throw new OnnxValidationError(what, 'empty tensor name');
    if (available.has(name)) throw new OnnxValidationError(name, `${what} reuses an existing tensor name`);
    available.add(name);
  };
  for (const t of graph.initializer) {
    checkInitializer(t);
    define(t.name, 'initializer');
  }
  for (const v of graph.input) {
    if (v.type?.value.case !== 'tensorType') throw new OnnxValidationError(v.name, 'graph input is not a tensor');
    // Initializers may be listed as inputs too (IR < 4 style); that is not a redefinition.
    if (!graph.initializer.some((t) => t.name === v.name)) define(v.name, 'graph input');
  }

  const nodeNames = new Set<string>();
  graph.node.forEach((node, index) => {
    const label = node.name || `node #${index} (${node.opType})`;
    if (node.name) {
      if (nodeNames.has(node.name)) throw new OnnxValidationError(node.name, 'node name is used twice');
      nodeNames.add(node.name);
    }
    if (node.domain !== '' && node.domain !== 'ai.onnx') {
      throw new OnnxValidationError(label, `custom domain '${node.domain}' is not supported`);
    }
    const required = REQUIRED_ATTRS[node.opType];
    if (!required) throw new OnnxValidationError(label, `op type '${node.opType}' is outside the supported subset`);
    const attrNames = new Set(node.attribute.map((a) => a.name));
    for (const a of required) {
      if (!attrNames.has(a)) throw new OnnxValidationError(label, `attribute '${a}' must be written explicitly`);
    }
    if (node.opType === 'ReduceMean' && opset < 18 && !attrNames.has('axes')) {
      throw new OnnxValidationError(label, `ReduceMean before opset 18 needs an 'axes' attribute`);
    }
    if (node.opType === 'ReduceMean' && opset >= 18 && (attrNames.has('axes') || node.input.length < 2)) {
      throw new OnnxValidationError(label, `ReduceMean from opset 18 takes axes as its second input, not an attribute`);
    }
    for (const input of node.input) {
      if (input === '') continue;
      if (!available.has(input)) {
        throw new OnnxValidationError(label, `input '${input}' is not a graph input, an initializer or an earlier node's output`);
      }
    }
    for (const output of node.output) define(output, `output of ${label}`);
  });

  const outputNames = new Set<string>();
  for (const v of graph.output) {
    if (outputNames.has(v.name)) throw new OnnxValidationError(v.name, 'graph output is listed twice');
    outputNames.add(v.name);
    if (!available.has(v.name)) throw new OnnxValidationError(v.name, 'graph output is not produced by any node');
  }
  if (graph.output.length === 0) throw new OnnxValidationError('', 'graph has no outputs');
}

/** Decodes and validates serialized model bytes; returns the decoded model. */
export function validateModelBytes(bytes: Uint8Array): ModelProto {
  const model = decodeModel(bytes);
  validateModel(model);
  return model;
}
