// A training checkpoint as one byte array (for IndexedDB, a download, or postMessage): a JSON
// header (format, config, loop state, tensor index) followed by the float32 data, little-endian.
import type { NamedTensor } from '../types.js';

const MAGIC = 'GANOMALY-CKPT-1';

export interface CheckpointContents<S, C> {
  state: S;
  config: C;
  tensors: Record<string, NamedTensor>;
}

export function packCheckpoint<S, C>(c: CheckpointContents<S, C>): Uint8Array {
  const names = Object.keys(c.tensors).sort();
  let offset = 0;
  const index = names.map((name) => {
    const t = c.tensors[name]!;
    const entry = { name, shape: t.shape, offset, length: t.data.length };
    offset += t.data.length;
    return entry;
  });
  const header = new TextEncoder().encode(JSON.stringify({ magic: MAGIC, state: c.state, config: c.config, index }));
  const pad = (4 - ((8 + header.length) % 4)) % 4;
  const out = new Uint8Array(8 + header.length + pad + offset * 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, header.length, true);
  view.setUint32(4, pad, true);
  out.set(header, 8);
  const data = new Float32Array(out.buffer, 8 + header.length + pad, offset);
  for (const e of index) data.set(c.tensors[e.name]!.data, e.offset);
  return out;
}

export function unpackCheckpoint<S, C>(bytes: Uint8Array): CheckpointContents<S, C> {
  const bad = (why: string) => new Error(`not a ganomaly-edge training checkpoint: ${why}`);
  if (bytes.length < 8) throw bad('too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = view.getUint32(0, true);
  const pad = view.getUint32(4, true);
  if (8 + hlen + pad > bytes.length || pad > 3) throw bad('truncated header');
  let header: { magic?: string; state: S; config: C; index: { name: string; shape: number[]; offset: number; length: number }[] };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  } catch {
    throw bad('header is not JSON');
  }
  if (header.magic !== MAGIC) throw bad(`format ${JSON.stringify(header.magic)}`);
  const start = 8 + hlen + pad;
  const floats = (bytes.length - start) / 4;
  const copy = new Uint8Array(bytes.subarray(start)); // aligned copy
  const data = new Float32Array(copy.buffer, 0, Math.floor(floats));
  const tensors: Record<string, NamedTensor> = {};
  for (const e of header.index) {
    if (e.offset + e.length > data.length) throw bad(`tensor ${e.name} is truncated`);
    tensors[e.name] = { shape: e.shape, data: data.slice(e.offset, e.offset + e.length) };
  }
  return { state: header.state, config: header.config, tensors };
}
