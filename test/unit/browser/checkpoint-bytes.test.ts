// The browser checkpoint loader (issue 23): a file that is not a checkpoint packed by
// packCheckpoint — a null header, negative or fractional offsets, a shape that disagrees with its
// length, a negative epoch — is an Error that says what is wrong, never a TypeError from inside.
import { describe, expect, it } from 'vitest';
import { packCheckpoint, unpackCheckpoint } from '../../../src/browser/checkpoint-bytes.js';

const GOOD = {
  state: { epoch: 1, step: 3, optGStep: 3, optDStep: 3 },
  config: { a: 2 },
  tensors: { w: { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }, b: { shape: [1], data: Float32Array.of(7) } },
};

/** GOOD packed, with its JSON header replaced by `edit(header)`; the float data stays. */
function withHeader(edit: (h: Record<string, unknown>) => unknown): Uint8Array {
  const bytes = packCheckpoint(GOOD);
  const view = new DataView(bytes.buffer);
  const hlen = view.getUint32(0, true);
  const pad = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen))) as Record<string, unknown>;
  const data = bytes.subarray(8 + hlen + pad);
  const text = new TextEncoder().encode(JSON.stringify(edit(header)));
  const newPad = (4 - ((8 + text.length) % 4)) % 4;
  const out = new Uint8Array(8 + text.length + newPad + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, text.length, true);
  v.setUint32(4, newPad, true);
  out.set(text, 8);
  out.set(data, 8 + text.length + newPad);
  return out;
}

type Entry = { name: string; shape: number[]; offset: number; length: number };
const editEntry = (name: string, change: Partial<Entry> | Record<string, unknown>) => (h: Record<string, unknown>) => ({
  ...h,
  index: (h.index as Entry[]).map((e) => (e.name === name ? { ...e, ...change } : e)),
});

describe('unpackCheckpoint', () => {
  it('reads back what packCheckpoint wrote (and the edit helper alone changes nothing)', () => {
    for (const bytes of [packCheckpoint(GOOD), withHeader((h) => h)]) {
      const back = unpackCheckpoint<typeof GOOD.state, typeof GOOD.config>(bytes);
      expect(back.state).toEqual(GOOD.state);
      expect(back.config).toEqual(GOOD.config);
      expect(back.tensors.w).toEqual(GOOD.tensors.w);
      expect(back.tensors.b).toEqual(GOOD.tensors.b);
    }
  });

  it.each([
    ['a null header', () => null, /header is null, not an object/],
    ['a list as header', () => [], /header is a list/],
    ['no state', (h: Record<string, unknown>) => ({ ...h, state: null }), /has no state/],
    ['no index', (h: Record<string, unknown>) => ({ ...h, index: 'w' }), /has no tensor index/],
    ['a null index entry', (h: Record<string, unknown>) => ({ ...h, index: [null] }), /index entry 0 is not an object/],
    ['a negative offset', editEntry('w', { offset: -1 }), /tensor "w" has offset -1 .* integers ≥ 0/],
    ['a fractional offset', editEntry('w', { offset: 0.5 }), /tensor "w" has offset 0.5/],
    ['a fractional length', editEntry('b', { length: 1.5, shape: [1.5] }), /tensor "b" has offset 0 and length 1.5/],
    ['a shape that disagrees with the length', editEntry('w', { shape: [3, 3] }), /tensor "w" has shape \[3, 3\] \(9 values\) but length 6/],
    ['a negative dimension', editEntry('w', { shape: [-2, -3] }), /tensor "w" has shape \[-2,-3\]/],
    ['a shape that is not a list', editEntry('w', { shape: 6 }), /tensor "w" has shape 6/],
    ['a missing name', editEntry('w', { name: 7 }), /index entry \d has no name/],
    ['a tensor past the data', editEntry('b', { offset: 6, length: 2, shape: [2] }), /tensor "b" is truncated/],
    ['epoch -5', (h: Record<string, unknown>) => ({ ...h, state: { ...(h.state as object), epoch: -5 } }), /state\.epoch must be an integer from 0 to 100000; got -5/],
    ['a fractional step', (h: Record<string, unknown>) => ({ ...h, state: { ...(h.state as object), step: 2.5 } }), /state\.step must be an integer/],
    ['a tensor listed twice', (h: Record<string, unknown>) => ({ ...h, index: [...(h.index as Entry[]), (h.index as Entry[])[0]] }), /listed twice/],
  ])('%s: an Error saying so, not a TypeError', (_why, edit, message) => {
    const bytes = withHeader(edit as (h: Record<string, unknown>) => unknown);
    let err: unknown;
    try {
      unpackCheckpoint(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(TypeError);
    expect((err as Error).message).toMatch(/^not a ganomaly-edge training checkpoint: /);
    expect((err as Error).message).toMatch(message);
  });

  it('a tensor named __proto__ stays a tensor', () => {
    const bytes = withHeader(editEntry('b', { name: '__proto__' }));
    const back = unpackCheckpoint(bytes);
    expect(Object.hasOwn(back.tensors, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(back.tensors)).toBe(Object.prototype);
  });

  it('not bytes at all: TypeError (a bad argument)', () => {
    expect(() => unpackCheckpoint(null as never)).toThrow(TypeError);
  });
});
