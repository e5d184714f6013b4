// A training checkpoint as one byte array (for IndexedDB, a download, or postMessage): a JSON
// header (format, config, loop state, tensor index) followed by the float32 data, little-endian.
import { CHECKPOINT_RANGES, inRange, rangeMessage, type NumericRange } from '../option-ranges.js';
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

interface IndexEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

/** The header's index entry `i`, checked: offsets and lengths are whole numbers of floats, the shape multiplies to the length. */
function checkEntry(e: unknown, i: number, floats: number, seen: Set<string>, bad: (why: string) => Error): IndexEntry {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) throw bad(`index entry ${i} is not an object`);
  const { name, shape, offset, length } = e as Record<string, unknown>;
  if (typeof name !== 'string' || name === '') throw bad(`index entry ${i} has no name`);
  if (seen.has(name)) throw bad(`tensor ${JSON.stringify(name)} is listed twice`);
  seen.add(name);
  const count = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!count(offset) || !count(length)) {
    throw bad(`tensor ${JSON.stringify(name)} has offset ${JSON.stringify(offset)} and length ${JSON.stringify(length)}; both must be integers ≥ 0`);
  }
  if (!Array.isArray(shape) || !shape.every(count)) throw bad(`tensor ${JSON.stringify(name)} has shape ${JSON.stringify(shape)}; it must be a list of integers ≥ 0`);
  const product = (shape as number[]).reduce((a, b) => a * b, 1);
  if (product !== length) throw bad(`tensor ${JSON.stringify(name)} has shape [${shape.join(', ')}] (${product} values) but length ${length as number}`);
  if ((offset as number) + (length as number) > floats) throw bad(`tensor ${JSON.stringify(name)} is truncated`);
  return { name, shape: shape as number[], offset: offset as number, length: length as number };
}

/**
 * Reads a checkpoint packed by packCheckpoint. Anything that is not one (another file, a truncated
 * or edited one: a null header, negative or fractional offsets, shapes that disagree with their
 * lengths, a negative epoch) is an Error saying what is wrong, never a TypeError from deep inside.
 */
export function unpackCheckpoint<S, C>(bytes: Uint8Array): CheckpointContents<S, C> {
  const bad = (why: string) => new Error(`not a ganomaly-edge training checkpoint: ${why}`);
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`unpackCheckpoint needs a Uint8Array; got ${bytes === null ? 'null' : typeof bytes}`);
  if (bytes.length < 8) throw bad('too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = view.getUint32(0, true);
  const pad = view.getUint32(4, true);
  if (8 + hlen + pad > bytes.length || pad > 3) throw bad('truncated header');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  } catch {
    throw bad('header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad(`header is ${header === null ? 'null' : Array.isArray(header) ? 'a list' : typeof header}, not an object`);
  const h = header as { magic?: unknown; state?: unknown; config?: unknown; index?: unknown };
  if (h.magic !== MAGIC) throw bad(`format ${JSON.stringify(h.magic)}`);
  if (typeof h.state !== 'object' || h.state === null) throw bad('the header has no state');
  if (typeof h.config !== 'object' || h.config === null) throw bad('the header has no config');
  if (!Array.isArray(h.index)) throw bad('the header has no tensor index');
  // The loop counters resume would continue from: whole numbers in range (option-ranges.ts).
  const state = h.state as Record<string, unknown>;
  for (const [key, range] of Object.entries(CHECKPOINT_RANGES) as [keyof typeof CHECKPOINT_RANGES, NumericRange][]) {
    if (state[key] !== undefined && !inRange(range, state[key] as number)) throw bad(`state.${rangeMessage(key, range, state[key])}`);
  }
  const start = 8 + hlen + pad;
  const floats = Math.floor((bytes.length - start) / 4);
  const copy = new Uint8Array(bytes.subarray(start, start + floats * 4)); // aligned copy
  const data = new Float32Array(copy.buffer, 0, floats);
  const seen = new Set<string>();
  // fromEntries: a tensor named __proto__ stays a tensor, not the object's prototype.
  const tensors: Record<string, NamedTensor> = Object.fromEntries(h.index.map((raw, i) => {
    const e = checkEntry(raw, i, floats, seen, bad);
    return [e.name, { shape: e.shape, data: data.slice(e.offset, e.offset + e.length) }];
  }));
  return { state: h.state as S, config: h.config as C, tensors };
}
