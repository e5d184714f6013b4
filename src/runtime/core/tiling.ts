// Patch models: a frame cut into model-sized tiles, each scored, the worst deciding. Training
// (src/data), export calibration, the Node runtime and the browser runtime all cut tiles with
// cutFrameTiles, so a tile is the same floats wherever it is cut.
import type { Preprocessing, Tiling } from '../../types.js';
import { InputLimitError, InvalidImageError } from './errors.js';
import { resizeBilinearConverted, type RawImage } from './pixels.js';

/** Most tiles one frame may be cut into (a 4K frame at 32-pixel tiles without overlap is 8,160). */
export const MAX_TILES_PER_FRAME = 16_384;
/** Largest side of a fixed tiling frame. */
export const MAX_TILING_FRAME_SIDE = 8192;

/** A tile's square in frame pixels (x, y: top-left corner). */
export interface TileBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One frame cut into model inputs. */
export interface FrameTiles {
  /** `count` tiles of `per` floats each, back to back, normalised like any model input. */
  data: Float32Array;
  count: number;
  per: number;
  layout: 'CHW' | 'HWC';
  /** Each tile's square, in the coordinates of `frame`. */
  boxes: TileBox[];
  /** The frame the tiles were cut from: the tiling's fixed frame, or the image's own size. */
  frame: { width: number; height: number };
  /** The image's own size (boxes scale to it by source / frame). */
  source: { width: number; height: number };
}

const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

/**
 * What is wrong with a tiling block, as messages (empty when it is valid). `path` prefixes field
 * names; `isize` (when known) is the tile size the model takes.
 */
export function tilingProblems(t: unknown, path = 'tiling', isize?: number): string[] {
  if (typeof t !== 'object' || t === null || Array.isArray(t)) return [`${path} must be an object`];
  const o = t as Record<string, unknown>;
  const out: string[] = [];
  if (!isPositiveInt(o.tile)) out.push(`${path}.tile must be a positive integer; got ${JSON.stringify(o.tile)}`);
  else if (isize !== undefined && o.tile !== isize) out.push(`${path}.tile ${o.tile} is not the model's input size ${isize}: tiles are scored as they are cut, never resized`);
  if (!isPositiveInt(o.stride)) out.push(`${path}.stride must be a positive integer; got ${JSON.stringify(o.stride)}`);
  else if (isPositiveInt(o.tile) && o.stride > o.tile) out.push(`${path}.stride ${o.stride} is larger than the tile ${o.tile}: pixels between tiles would never be scored`);
  if (o.frame !== 'any') {
    const f = o.frame as Record<string, unknown> | null;
    const ok = typeof f === 'object' && f !== null && [f.width, f.height].every((v) => isPositiveInt(v) && v <= MAX_TILING_FRAME_SIDE);
    if (!ok) out.push(`${path}.frame must be 'any' or { width, height } of 1-${MAX_TILING_FRAME_SIDE} pixels; got ${JSON.stringify(o.frame)}`);
    else if (isPositiveInt(o.tile) && ((f.width as number) < o.tile || (f.height as number) < o.tile)) {
      out.push(`${path}.frame ${f.width}x${f.height} is smaller than one ${o.tile}-pixel tile`);
    } else if (isPositiveInt(o.tile) && isPositiveInt(o.stride) && o.stride <= o.tile) {
      const n = tileStarts(f.width as number, o.tile, o.stride).length * tileStarts(f.height as number, o.tile, o.stride).length;
      if (n > MAX_TILES_PER_FRAME) out.push(`${path}: ${n} tiles per frame, more than ${MAX_TILES_PER_FRAME}`);
    }
  }
  if (o.reduce !== 'max') out.push(`${path}.reduce must be 'max'; got ${JSON.stringify(o.reduce)}`);
  return out;
}

/** Throws RangeError unless `t` is a valid tiling for a model of input size `isize`. */
export function checkTiling(t: unknown, isize?: number, path = 'tiling'): asserts t is Tiling {
  const problems = tilingProblems(t, path, isize);
  if (problems.length > 0) throw new RangeError(problems.join('; '));
}

/** Starts of the tiles along one side: every `stride`, plus one ending at the edge when the grid falls short of it. */
export function tileStarts(length: number, tile: number, stride: number): number[] {
  const starts: number[] = [];
  for (let s = 0; s + tile <= length; s += stride) starts.push(s);
  const last = starts[starts.length - 1];
  if (last !== undefined && last + tile < length) starts.push(length - tile);
  return starts;
}

/** The tiles of a frame of width × height, row by row. Throws InvalidImageError for a frame smaller than one tile. */
export function tileGrid(width: number, height: number, tiling: Pick<Tiling, 'tile' | 'stride'>): TileBox[] {
  const { tile, stride } = tiling;
  if (width < tile || height < tile) {
    throw new InvalidImageError(`a ${width}x${height} frame is smaller than one ${tile}x${tile} tile; a patch model never resizes a frame up to fit`);
  }
  const xs = tileStarts(width, tile, stride);
  const ys = tileStarts(height, tile, stride);
  if (xs.length * ys.length > MAX_TILES_PER_FRAME) {
    throw new InputLimitError(`a ${width}x${height} frame makes ${xs.length * ys.length} tiles of ${tile} every ${stride} pixels, more than ${MAX_TILES_PER_FRAME}`);
  }
  const boxes: TileBox[] = [];
  for (const y of ys) for (const x of xs) boxes.push({ x, y, width: tile, height: tile });
  return boxes;
}

/**
 * Cuts `img` into the tiling's tiles as model inputs: channels converted and the frame resized
 * (bilinear, the same code as whole-image preprocessing) once, then each tile normalised by
 * `pre` — exactly preprocessPixels' arithmetic on the tile's pixels.
 */
export function cutFrameTiles(img: RawImage, tiling: Tiling, pre: Preprocessing, layout: 'CHW' | 'HWC' = 'CHW'): FrameTiles {
  const nc = pre.channelOrder === 'gray' ? 1 : 3;
  if (pre.resize.width !== tiling.tile || pre.resize.height !== tiling.tile) {
    throw new RangeError(`tiling.tile ${tiling.tile} does not match the model input ${pre.resize.width}x${pre.resize.height}`);
  }
  const fw = tiling.frame === 'any' ? img.width : tiling.frame.width;
  const fh = tiling.frame === 'any' ? img.height : tiling.frame.height;
  // Checked before resizing, so a tiny frame fails with the tiling's message, not an allocation.
  const boxes = tileGrid(fw, fh, tiling);
  const frame = resizeBilinearConverted(img, nc, fw, fh);
  const t = tiling.tile;
  const per = t * t * nc;
  const data = new Float32Array(per * boxes.length);
  const scale = pre.std.map((s) => 1 / (255 * s));
  const shift = pre.mean.map((m, i) => m / pre.std[i]!);
  boxes.forEach((b, k) => {
    const base = k * per;
    for (let ty = 0; ty < t; ty++) {
      const row = ((b.y + ty) * fw + b.x) * nc;
      for (let tx = 0; tx < t; tx++) {
        for (let ch = 0; ch < nc; ch++) {
          const v = frame[row + tx * nc + ch]! * scale[ch]! - shift[ch]!;
          const p = ty * t + tx;
          data[base + (layout === 'HWC' ? p * nc + ch : ch * t * t + p)] = v;
        }
      }
    }
  });
  return { data, count: boxes.length, per, layout, boxes, frame: { width: fw, height: fh }, source: { width: img.width, height: img.height } };
}

/** Tile `k` of a cut frame (a view, not a copy). */
export function tileAt(cut: FrameTiles, k: number): Float32Array {
  return cut.data.subarray(k * cut.per, (k + 1) * cut.per);
}

/**
 * Puts per-tile maps (CHW, `channels` × tile × tile) back into one frame-sized map, averaging
 * where tiles overlap. Where only one tile covers a pixel, the value is that tile's exactly.
 */
export function assembleTileMaps(maps: readonly Float32Array[], boxes: readonly TileBox[], frame: { width: number; height: number }, channels: number): Float32Array {
  const { width: fw, height: fh } = frame;
  const sum = new Float32Array(channels * fw * fh);
  const count = new Uint32Array(fw * fh);
  boxes.forEach((b, k) => {
    const m = maps[k]!;
    const plane = b.width * b.height;
    for (let y = 0; y < b.height; y++) {
      for (let x = 0; x < b.width; x++) {
        const p = (b.y + y) * fw + b.x + x;
        count[p]!++;
        for (let ch = 0; ch < channels; ch++) sum[ch * fw * fh + p]! += m[ch * plane + y * b.width + x]!;
      }
    }
  });
  for (let p = 0; p < fw * fh; p++) {
    const c = count[p]!;
    if (c > 1) for (let ch = 0; ch < channels; ch++) sum[ch * fw * fh + p]! /= c;
  }
  return sum;
}

/** A box in frame pixels → the same region in the source image's pixels (rounded outward). */
export function boxInSource(b: TileBox, cut: Pick<FrameTiles, 'frame' | 'source'>): TileBox {
  const sx = cut.source.width / cut.frame.width;
  const sy = cut.source.height / cut.frame.height;
  if (sx === 1 && sy === 1) return { ...b };
  const x = Math.floor(b.x * sx);
  const y = Math.floor(b.y * sy);
  return { x, y, width: Math.min(cut.source.width, Math.ceil((b.x + b.width) * sx)) - x, height: Math.min(cut.source.height, Math.ceil((b.y + b.height) * sy)) - y };
}
