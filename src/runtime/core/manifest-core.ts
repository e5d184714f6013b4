// The manifest's core (what the graphs were exported for: schemaVersion, name, input shape,
// preprocessing, score, model, opset, and tiling for patch models) and its hash, which export stamps into every graph as the
// ONNX metadata entry 'ganomaly.manifest_core_sha256'. Loading compares the two, so a manifest
// edited after export (a preprocessing std, an input size) is refused instead of scoring wrongly.
import { sha256Hex } from './sha256.js';

export const MANIFEST_CORE_METADATA_KEY = 'ganomaly.manifest_core_sha256';

/**
 * sha256 of the core fields as JSON in this fixed order: what the exporters stamp (from the core
 * they build the manifest with) and what loading recomputes (from the manifest as read).
 */
export function manifestCoreSha256(m: object): string {
  const { schemaVersion, name, input, preprocessing, score, model, opset, tiling } = m as Record<string, unknown>;
  // JSON.stringify leaves out an undefined tiling: whole-image manifests hash as they always did.
  return sha256Hex(new TextEncoder().encode(JSON.stringify({ schemaVersion, name, input, preprocessing, score, model, opset, tiling })));
}

/**
 * The value of one metadata_props entry of an ONNX ModelProto (field 14: {1: key, 2: value}),
 * found by walking the top-level protobuf fields without decoding the graph. Undefined when the
 * entry is absent or the bytes are not a well-formed ModelProto (ONNX Runtime reports those).
 */
export function onnxMetadataValue(bytes: Uint8Array, key: string): string | undefined {
  const text = new TextDecoder('utf-8', { fatal: false });
  let found: string | undefined;
  const ok = walk(bytes, 0, bytes.length, (field, start, end) => {
    if (field !== 14) return true;
    let k: string | undefined;
    let v: string | undefined;
    const entryOk = walk(bytes, start, end, (f, s, e) => {
      if (f === 1) k = text.decode(bytes.subarray(s, e));
      else if (f === 2) v = text.decode(bytes.subarray(s, e));
      return true;
    });
    if (entryOk && k === key) found = v ?? '';
    return true;
  });
  return ok ? found : undefined;
}

/** Calls `onField` for each length-delimited field in [pos, end); false on malformed input. */
function walk(b: Uint8Array, pos: number, end: number, onField: (field: number, start: number, end: number) => boolean): boolean {
  const varint = (): number | null => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) return null;
      const byte = b[pos++]!;
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) return v;
      mul *= 128;
    }
    return null;
  };
  while (pos < end) {
    const tag = varint();
    if (tag === null) return false;
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) {
      if (varint() === null) return false;
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
      if (pos > end) return false;
    } else if (wire === 2) {
      const len = varint();
      if (len === null || pos + len > end) return false;
      const start = pos;
      pos += len;
      if (!onField(field, start, pos)) return false;
    } else {
      return false;
    }
  }
  return true;
}
