// FrameReader: exact frames out of a byte stream cut anywhere.
import { describe, expect, it } from 'vitest';
import { FrameReader } from '../../../src/gateway/watch/frames.js';

/** A stream of `n` frames of `size` bytes, frame k filled with bytes (k * 31 + i) & 255. */
function stream(n: number, size: number): Uint8Array {
  const s = new Uint8Array(n * size);
  for (let k = 0; k < n; k++) for (let i = 0; i < size; i++) s[k * size + i] = (k * 31 + i) & 255;
  return s;
}

function collect(size: number, chunks: Uint8Array[]): { frames: Uint8Array[]; reader: FrameReader } {
  const frames: Uint8Array[] = [];
  const reader = new FrameReader(size, (f) => frames.push(f));
  for (const c of chunks) reader.push(c);
  return { frames, reader };
}

describe('FrameReader', () => {
  const size = 12;
  const all = stream(5, size);

  it.each([1, 5, 11, 12, 13, 24, 25, 60])('cuts frames exactly with chunks of %i bytes', (chunk) => {
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < all.length; at += chunk) chunks.push(all.slice(at, at + chunk));
    const { frames, reader } = collect(size, chunks);
    expect(frames.length).toBe(5);
    frames.forEach((f, k) => expect(Array.from(f)).toEqual(Array.from(all.subarray(k * size, (k + 1) * size))));
    expect(reader.pendingBytes).toBe(0);
    expect(reader.frames).toBe(5);
  });

  it('cuts at irregular boundaries and keeps the partial tail pending', () => {
    const cuts = [3, 3, 20, 1, 0, 17];
    const chunks: Uint8Array[] = [];
    let at = 0;
    for (const c of cuts) {
      chunks.push(all.slice(at, at + c));
      at += c;
    }
    const { frames, reader } = collect(size, chunks);
    expect(at).toBe(44);
    expect(frames.length).toBe(3);
    expect(reader.pendingBytes).toBe(8);
    expect(Array.from(frames[2]!)).toEqual(Array.from(all.subarray(24, 36)));
  });

  it('hands out frames the receiver owns: later pushes do not overwrite them', () => {
    const { frames } = collect(size, [all]);
    const copy = frames.map((f) => Array.from(f));
    const reader = new FrameReader(size, () => {});
    reader.push(all);
    frames.forEach((f, k) => expect(Array.from(f)).toEqual(copy[k]));
    expect(new Set(frames.map((f) => f.buffer)).size).toBe(5);
  });

  it('drops a partial frame on reset (a restarted ffmpeg starts a new frame)', () => {
    const frames: Uint8Array[] = [];
    const reader = new FrameReader(size, (f) => frames.push(f));
    reader.push(new Uint8Array(7).fill(9));
    reader.reset();
    reader.push(all.subarray(0, size));
    expect(frames.length).toBe(1);
    expect(Array.from(frames[0]!)).toEqual(Array.from(all.subarray(0, size)));
  });

  it('refuses a frame size that is not a positive integer', () => {
    expect(() => new FrameReader(0, () => {})).toThrow(RangeError);
    expect(() => new FrameReader(1.5, () => {})).toThrow(RangeError);
  });
});
