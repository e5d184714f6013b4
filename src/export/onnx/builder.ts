// A small ONNX graph builder over the generated protobuf types. It knows nothing about GANomaly;
// lower.ts walks the layer plans and calls it. Every attribute is written explicitly by callers
// because ONNX and tfjs defaults differ (BatchNorm epsilon, LeakyRelu alpha).
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataType,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../proto/onnx_pb.js';
import { GanomalyError } from '@ganomaly-edge/runtime';

export class OnnxBuildError extends GanomalyError {
  override name = 'OnnxBuildError';
  readonly code = 'onnx_build_failed';
}

export const DEFAULT_OPSET = 17;
export const MIN_OPSET = 13;
export const MAX_OPSET = 21;
export const PRODUCER_NAME = 'ganomaly-edge';

/**
 * Lowest IR version that may carry each default-domain opset (onnx/docs/Versioning.md). Writing the
 * lowest one keeps older loaders working: opset 17 → IR 8 is what onnx 1.12's checker accepts.
 */
const IR_FOR_OPSET: Record<number, number> = {
  13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10,
};

export function irVersionForOpset(opset: number): number {
  const ir = IR_FOR_OPSET[opset];
  if (ir === undefined || !Number.isInteger(opset)) {
    throw new OnnxBuildError(`opset must be an integer from ${MIN_OPSET} to ${MAX_OPSET}; got ${String(opset)}`);
  }
  return ir;
}

/** Attribute values carry their ONNX type: a JS number cannot say whether it is an int or a float. */
export type AttrValue =
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'string'; value: string }
  | { type: 'ints'; value: number[] }
  | { type: 'floats'; value: number[] };

export const attr = {
  int: (value: number): AttrValue => ({ type: 'int', value }),
  float: (value: number): AttrValue => ({ type: 'float', value }),
  string: (value: string): AttrValue => ({ type: 'string', value }),
  ints: (value: number[]): AttrValue => ({ type: 'ints', value }),
  floats: (value: number[]): AttrValue => ({ type: 'floats', value }),
};

/** A dimension is a fixed size or the symbolic batch dimension. */
export type Dim = number | 'N';

export interface ModelOptions {
  opset?: number;
  docString?: string;
  metadata?: Record<string, string>;
  producerVersion?: string;
}

function toInt64(n: number, what: string): bigint {
  if (!Number.isSafeInteger(n)) throw new OnnxBuildError(`${what}: ${n} is not an integer`);
  return BigInt(n);
}

function attributeProto(name: string, v: AttrValue): AttributeProto {
  const T = AttributeProto_AttributeType;
  switch (v.type) {
    case 'int':
      return create(AttributeProtoSchema, { name, type: T.INT, i: toInt64(v.value, name) });
    case 'float':
      return create(AttributeProtoSchema, { name, type: T.FLOAT, f: v.value });
    case 'string':
      return create(AttributeProtoSchema, { name, type: T.STRING, s: new TextEncoder().encode(v.value) });
    case 'ints':
      return create(AttributeProtoSchema, { name, type: T.INTS, ints: v.value.map((x) => toInt64(x, name)) });
    case 'floats':
      return create(AttributeProtoSchema, { name, type: T.FLOATS, floats: v.value });
  }
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function float32Bytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  return out;
}

function int64Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, toInt64(v, 'int64 initializer'), true));
  return out;
}

function valueInfo(name: string, shape: Dim[]): ValueInfoProto {
  const dim = shape.map((d) => create(TensorShapeProto_DimensionSchema, {
    value: d === 'N' ? { case: 'dimParam', value: 'N' } : { case: 'dimValue', value: toInt64(d, name) },
  }));
  const tensorType = create(TypeProto_TensorSchema, {
    elemType: TensorProto_DataType.FLOAT,
    shape: create(TensorShapeProtoSchema, { dim }),
  });
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }),
  });
}

/** Collects one float32 graph. Names must be unique; the builder refuses duplicates as they are added. */
export class GraphBuilder {
  readonly opset: number;
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private readonly nodeNames = new Set<string>();

  constructor(readonly graphName: string, opset: number = DEFAULT_OPSET) {
    irVersionForOpset(opset);
    this.opset = opset;
  }

  private claim(name: string): string {
    if (!name) throw new OnnxBuildError('tensor names must be non-empty');
    if (this.names.has(name)) throw new OnnxBuildError(`tensor name '${name}' is used twice`);
    this.names.add(name);
    return name;
  }

  /** A float32 constant stored as little-endian raw_data. */
  addInitializer(name: string, dims: number[], data: Float32Array): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (data.length !== count) {
      throw new OnnxBuildError(`initializer '${name}': dims [${dims.join(',')}] need ${count} values; got ${data.length}`);
    }
    this.initializers.push(create(TensorProtoSchema, {
      name: this.claim(name),
      dims: dims.map((d) => toInt64(d, name)),
      dataType: TensorProto_DataType.FLOAT,
      rawData: float32Bytes(data),
    }));
    return name;
  }

  /** A 1-D int64 constant (shapes, axes). */
  addInt64Initializer(name: string, values: number[]): string {
    this.initializers.push(create(TensorProtoSchema, {
      name: this.claim(name),
      dims: [BigInt(values.length)],
      dataType: TensorProto_DataType.INT64,
      rawData: int64Bytes(values),
    }));
    return name;
  }

  addInput(name: string, shape: Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), shape));
    return name;
  }

  /** Declares an existing tensor (produced by a node) as a graph output. */
  addOutput(name: string, shape: Dim[]): string {
    if (!this.names.has(name)) throw new OnnxBuildError(`graph output '${name}' is not produced by any node`);
    this.outputs.push(valueInfo(name, shape));
    return name;
  }

  addNode(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}, name?: string): string[] {
    for (const i of inputs) {
      if (i !== '' && !this.names.has(i)) throw new OnnxBuildError(`${opType} node: input '${i}' does not exist yet`);
    }
    outputs.forEach((o) => this.claim(o));
    const nodeName = name ?? `${outputs[0]}/${opType}`;
    if (this.nodeNames.has(nodeName)) throw new OnnxBuildError(`node name '${nodeName}' is used twice`);
    this.nodeNames.add(nodeName);
    this.nodes.push(create(NodeProtoSchema, {
      name: nodeName,
      opType,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attributeProto(k, v)),
    }));
    return outputs;
  }

  /** True if a tensor of this name exists (input, initializer or node output). */
  has(name: string): boolean {
    return this.names.has(name);
  }

  toModel(opts: Omit<ModelOptions, 'opset'> = {}): ModelProto {
    return create(ModelProtoSchema, {
      irVersion: BigInt(irVersionForOpset(this.opset)),
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(this.opset) })],
      producerName: PRODUCER_NAME,
      ...(opts.producerVersion !== undefined ? { producerVersion: opts.producerVersion } : {}),
      ...(opts.docString !== undefined ? { docString: opts.docString } : {}),
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) =>
        create(StringStringEntryProtoSchema, { key, value })),
      graph: create(GraphProtoSchema, {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
    });
  }

  serialize(opts: Omit<ModelOptions, 'opset'> = {}): Uint8Array {
    return toBinary(ModelProtoSchema, this.toModel(opts));
  }
}
