// A minimal reader of ONNX ModelProto bytes: only the fields graph-check.ts needs (opsets, nodes,
// attributes, initializer dims and byte counts, graph inputs and outputs), walked by hand instead
// of bundling the generated schema. It is bounded: one pass over the bytes, no recursion into
// subgraphs (their presence is recorded, never parsed), counts and lengths capped. Malformed bytes
// are a ModelLoadError; bytes past a cap are an UntrustedGraphError; nothing else is thrown.
//
// Protobuf semantics are kept where they change what ONNX Runtime would see: a singular message
// field that occurs twice is merged (so two `graph` fields are one graph with both node lists),
// a scalar that occurs twice takes the last value.
import { ModelLoadError, UntrustedGraphError } from './errors.js';

export interface OnnxAttribute {
  name: string;
  /** AttributeProto.type (1 FLOAT, 2 INT, 3 STRING, 6 FLOATS, 7 INTS, …); 0 when absent. */
  type: number;
  f: number;
  i: number;
  s: string;
  ints: number[];
  floats: number[];
  /** Set when it carries a tensor, graph, sparse tensor, type proto or a reference (a function's). */
  nested: boolean;
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: OnnxAttribute[];
}

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** raw_data; empty when absent. */
  raw: Uint8Array;
  /** Typed data fields (float_data, int64_data, …) or segment entries seen instead of raw_data alone. */
  typedValues: number;
  /** external_data entries or data_location EXTERNAL: the bytes would be read from a file. */
  external: boolean;
}

/** A dimension: a number (dim_value), a string (dim_param) or undefined (neither). */
export type OnnxDim = number | string | undefined;

export interface OnnxValueInfo {
  name: string;
  /** 'tensor' for TypeProto.tensor_type; the oneof case otherwise; '' when the type is absent. */
  kind: string;
  elemType: number;
  /** Undefined when the tensor type has no shape. */
  dims: OnnxDim[] | undefined;
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  sparseInitializers: number;
}

export interface OnnxModel {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  graph: OnnxGraph | undefined;
  /** Model-local functions and training_info entries: neither is something the exporter writes. */
  functions: number;
  trainingInfo: number;
}

/** Caps on what one model may hold; the exporter's largest graph (the detector) is far inside each. */
export const ONNX_READ_LIMITS = {
  nodes: 10_000,
  initializers: 10_000,
  /** Graph inputs, outputs, opset imports, a node's inputs, outputs or attributes. */
  list: 64,
  /** Values in one attribute's ints or floats, dims of one shape. */
  values: 1024,
  /** Bytes in one name or string attribute. */
  string: 4096,
} as const;

const DECODER = new TextDecoder('utf-8', { fatal: true });

class Walker {
  pos = 0;
  constructor(readonly b: Uint8Array, readonly file: string) {}

  bad(what: string): never {
    throw new ModelLoadError(`${this.file} is not a well-formed ONNX model (protobuf: ${what} at byte ${this.pos}); re-export or re-download it`);
  }

  /** A varint as a number: exact within ±2^53, two's complement for negative int64. */
  varint(end: number): number {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) this.bad('truncated varint');
      const byte = this.b[this.pos++]!;
      const v = byte & 0x7f;
      if (i < 4) lo += v * 2 ** (7 * i);
      else if (i === 4) {
        lo += (v & 0x0f) * 2 ** 28;
        hi += v >> 4;
      } else hi += v * 2 ** (7 * i - 32);
      if (byte < 0x80) {
        hi %= 2 ** 32;
        return (hi >= 2 ** 31 ? hi - 2 ** 32 : hi) * 2 ** 32 + lo;
      }
    }
    return this.bad('varint longer than 10 bytes');
  }

  /** Calls `onField(field, wire, end)` for each field of the message in [pos, end); the callback must consume it via value helpers or skip. */
  fields(end: number, onField: (field: number, wire: number, end: number) => void): void {
    while (this.pos < end) {
      const tag = this.varint(end);
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (field < 1) this.bad('field number 0');
      let valueEnd: number;
      if (wire === 0) {
        const at = this.pos;
        this.varint(end);
        valueEnd = this.pos;
        this.pos = at;
      } else if (wire === 1 || wire === 5) valueEnd = this.pos + (wire === 1 ? 8 : 4);
      else if (wire === 2) {
        const len = this.varint(end);
        if (len < 0 || len > end - this.pos) this.bad('length past the end of its message');
        valueEnd = this.pos + len;
      } else return this.bad(`wire type ${wire}`);
      if (valueEnd > end) this.bad('value past the end of its message');
      onField(field, wire, valueEnd);
      this.pos = valueEnd;
    }
  }

  string(wire: number, end: number, what: string): string {
    if (wire !== 2) this.bad(`${what} is not length-delimited`);
    if (end - this.pos > ONNX_READ_LIMITS.string) this.limit(`${what} is ${end - this.pos} bytes long`);
    try {
      return DECODER.decode(this.b.subarray(this.pos, end));
    } catch {
      return this.bad(`${what} is not UTF-8`);
    }
  }

  int(wire: number, end: number, what: string): number {
    if (wire !== 0) this.bad(`${what} is not a varint`);
    return this.varint(end);
  }

  /** A repeated int64, packed or not, appended to `into`. */
  ints(wire: number, end: number, into: number[], what: string): void {
    if (wire === 0) this.push(into, this.varint(end), what);
    else if (wire === 2) while (this.pos < end) this.push(into, this.varint(end), what);
    else this.bad(`${what} is not an integer list`);
  }

  /** A repeated float, packed or not, appended to `into`. */
  floats(wire: number, end: number, into: number[], what: string): void {
    if (wire !== 5 && wire !== 2) this.bad(`${what} is not a float list`);
    if ((end - this.pos) % 4 !== 0) this.bad(`${what} is not a whole number of floats`);
    const view = new DataView(this.b.buffer, this.b.byteOffset);
    for (; this.pos < end; this.pos += 4) this.push(into, view.getFloat32(this.pos, true), what);
  }

  float(wire: number, what: string): number {
    if (wire !== 5) this.bad(`${what} is not a float`);
    return new DataView(this.b.buffer, this.b.byteOffset).getFloat32(this.pos, true);
  }

  push<T>(list: T[], item: T, what: string, cap: number = ONNX_READ_LIMITS.values): void {
    if (list.length >= cap) this.limit(`more than ${cap} ${what}`);
    list.push(item);
  }

  limit(what: string): never {
    throw new UntrustedGraphError(this.file, '', `${this.file} is not a graph this runtime accepts: ${what}; re-export the model with \`ganomaly export\``);
  }
}

/** Parses the fields of ModelProto that graph checks need. Throws ModelLoadError or UntrustedGraphError only. */
export function readOnnxModel(bytes: Uint8Array, file = 'detector.onnx'): OnnxModel {
  const w = new Walker(bytes, file);
  const L = ONNX_READ_LIMITS;
  const model: OnnxModel = { irVersion: 0, opsets: [], graph: undefined, functions: 0, trainingInfo: 0 };
  const sub = (end: number, onField: (field: number, wire: number, end: number) => void, wire: number, what: string) => {
    if (wire !== 2) w.bad(`${what} is not a message`);
    w.fields(end, onField);
  };

  const valueInfo = (wire: number, end: number, into: OnnxValueInfo[], what: string) => {
    const v: OnnxValueInfo = { name: '', kind: '', elemType: 0, dims: undefined };
    w.push(into, v, what, L.list);
    sub(end, (f, wt, e) => {
      if (f === 1) v.name = w.string(wt, e, 'value name');
      else if (f === 2) {
        sub(e, (tf, twt, te) => {
          if (tf === 1) {
            v.kind = 'tensor';
            sub(te, (xf, xwt, xe) => {
              if (xf === 1) v.elemType = w.int(xwt, xe, 'elem_type');
              else if (xf === 2) {
                v.dims ??= [];
                const dims = v.dims;
                sub(xe, (sf, swt, se) => {
                  if (sf !== 1) return;
                  const dim: { value: OnnxDim } = { value: undefined };
                  sub(se, (df, dwt, de) => {
                    if (df === 1) dim.value = w.int(dwt, de, 'dim_value');
                    else if (df === 2) dim.value = w.string(dwt, de, 'dim_param');
                  }, swt, 'dimension');
                  w.push(dims, dim.value, 'dimensions');
                }, xwt, 'shape');
              }
            }, twt, 'tensor type');
          } else if (tf === 4 || tf === 5 || tf === 8 || tf === 9) {
            v.kind = ['', '', '', '', 'sequence', 'map', '', '', 'sparse tensor', 'optional'][tf]!;
          }
        }, wt, 'type');
      }
    }, wire, what);
  };

  const tensor = (wire: number, end: number, into: OnnxTensor[]) => {
    const t: OnnxTensor = { name: '', dims: [], dataType: 0, raw: new Uint8Array(0), typedValues: 0, external: false };
    w.push(into, t, 'initializers', L.initializers);
    sub(end, (f, wt, e) => {
      if (f === 1) w.ints(wt, e, t.dims, 'dims');
      else if (f === 2) t.dataType = w.int(wt, e, 'data_type');
      else if (f === 8) t.name = w.string(wt, e, 'tensor name');
      else if (f === 9) {
        if (wt !== 2) w.bad('raw_data is not length-delimited');
        t.raw = bytes.subarray(w.pos, e);
      } else if (f === 13) t.external = true;
      else if (f === 14) t.external ||= w.int(wt, e, 'data_location') !== 0;
      else if (f === 3 || f === 4 || f === 5 || f === 6 || f === 7 || f === 10 || f === 11) t.typedValues++; // segment, typed data
    }, wire, 'tensor');
  };

  const attribute = (wire: number, end: number, into: OnnxAttribute[]) => {
    const a: OnnxAttribute = { name: '', type: 0, f: 0, i: 0, s: '', ints: [], floats: [], nested: false };
    w.push(into, a, 'attributes on one node', L.list);
    sub(end, (f, wt, e) => {
      if (f === 1) a.name = w.string(wt, e, 'attribute name');
      else if (f === 20) a.type = w.int(wt, e, 'attribute type');
      else if (f === 2) a.f = w.float(wt, 'attribute f');
      else if (f === 3) a.i = w.int(wt, e, 'attribute i');
      else if (f === 4) a.s = w.string(wt, e, 'attribute s');
      else if (f === 7) w.floats(wt, e, a.floats, 'attribute floats');
      else if (f === 8) w.ints(wt, e, a.ints, 'attribute ints');
      else if (f !== 13) a.nested = true; // t, g, tensors, graphs, sparse, type protos, strings, ref_attr_name
    }, wire, 'attribute');
  };

  const node = (wire: number, end: number, into: OnnxNode[]) => {
    const n: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: [] };
    w.push(into, n, 'nodes', L.nodes);
    sub(end, (f, wt, e) => {
      if (f === 1) w.push(n.inputs, w.string(wt, e, 'node input'), 'inputs on one node', L.list);
      else if (f === 2) w.push(n.outputs, w.string(wt, e, 'node output'), 'outputs on one node', L.list);
      else if (f === 3) n.name = w.string(wt, e, 'node name');
      else if (f === 4) n.opType = w.string(wt, e, 'op_type');
      else if (f === 7) n.domain = w.string(wt, e, 'node domain');
      else if (f === 5) attribute(wt, e, n.attributes);
    }, wire, 'node');
  };

  w.fields(bytes.length, (f, wire, end) => {
    if (f === 1) model.irVersion = w.int(wire, end, 'ir_version');
    else if (f === 8) {
      const o = { domain: '', version: 0 };
      w.push(model.opsets, o, 'opset imports', L.list);
      sub(end, (of, owt, oe) => {
        if (of === 1) o.domain = w.string(owt, oe, 'opset domain');
        else if (of === 2) o.version = w.int(owt, oe, 'opset version');
      }, wire, 'opset import');
    } else if (f === 7) {
      const g = (model.graph ??= { nodes: [], initializers: [], inputs: [], outputs: [], sparseInitializers: 0 });
      sub(end, (gf, gwt, ge) => {
        if (gf === 1) node(gwt, ge, g.nodes);
        else if (gf === 5) tensor(gwt, ge, g.initializers);
        else if (gf === 11) valueInfo(gwt, ge, g.inputs, 'graph inputs');
        else if (gf === 12) valueInfo(gwt, ge, g.outputs, 'graph outputs');
        else if (gf === 15) g.sparseInitializers++;
      }, wire, 'graph');
    } else if (f === 25) model.functions++;
    else if (f === 20) model.trainingInfo++;
  });
  return model;
}
