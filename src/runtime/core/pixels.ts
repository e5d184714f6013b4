// Pixel math shared by training data loading, the Node runtime and the browser runtime.
// Decoding differs per platform (sharp, canvas); everything after decoding is this file, so a
// model scores the same image the same way everywhere. Each exported function checks its image
// once (checkRawPixels, the one validator); the unchecked helpers below it never check again.
import type { Preprocessing } from '../../types.js';
import { ChannelMismatchError, InvalidImageError, typeName } from './errors.js';

/** Decoded 8-bit pixels, interleaved (HWC), 1, 3 or 4 channels. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: number;
}

/**
 * Checks decoded 8-bit pixels: a Uint8Array/Uint8ClampedArray of width × height × channels bytes,
 * 1-4 channels. `index` (the image's position in a call's inputs) goes into the message.
 */
export function checkRawPixels(img: RawImage, index?: number): void {
  const { data, width, height, channels } = img;
  const at = index === undefined ? '' : ` (image ${index})`;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new InvalidImageError(
      `raw pixel data must be a Uint8Array or Uint8ClampedArray of 0-255 values; got ${typeName(data)}${at}. ` +
        'Scale float pixels to 0-255 and convert first.',
      index,
    );
  }
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new InvalidImageError(`raw image width and height must be positive integers; got ${width}x${height}${at}`, index);
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > 4) {
    throw new ChannelMismatchError(
      `raw image has ${channels} channels${at}; supported are 1 (grey), 2 (grey+alpha), 3 (RGB) and 4 (RGBA)`,
      channels,
      index,
    );
  }
  if (data.length !== width * height * channels) {
    throw new InvalidImageError(
      `raw pixel buffer has ${data.length} bytes but ${width}x${height}x${channels} needs ${width * height * channels}${at}`,
      index,
    );
  }
}

/**
 * Converts to 1 (grey) or 3 (RGB) channels. Alpha is dropped (not composited): camera frames and
 * datasets carry none, and compositing would need a background colour the model never saw.
 * Grey uses ITU-R BT.601 luma, rounded, as most image libraries do.
 */
export function toChannels(img: RawImage, nc: 1 | 3): RawImage {
  checkRawPixels(img);
  return convertChannels(img, nc);
}

function convertChannels(img: RawImage, nc: 1 | 3): RawImage {
  const { width, height, channels, data } = img;
  const n = width * height;
  if (channels === nc) return img;
  const out = new Uint8Array(n * nc);
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    const grey = channels <= 2;
    const r = data[s]!;
    const g = grey ? r : data[s + 1]!;
    const b = grey ? r : data[s + 2]!;
    if (nc === 1) out[i] = grey ? r : Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    else {
      out[i * 3] = r;
      out[i * 3 + 1] = g;
      out[i * 3 + 2] = b;
    }
  }
  return { data: out, width, height, channels: nc };
}

/**
 * Bilinear resize with half-pixel centres (PyTorch align_corners=False, no antialias), output
 * kept in float so no rounding happens between resize and normalisation.
 */
export function resizeBilinear(img: RawImage, outW: number, outH: number): Float32Array {
  checkRawPixels(img);
  return resize(img, outW, outH);
}

function resize(img: RawImage, outW: number, outH: number): Float32Array {
  const { width: w, height: h, channels: c, data } = img;
  const out = new Float32Array(outW * outH * c);
  if (w === outW && h === outH) {
    for (let i = 0; i < out.length; i++) out[i] = data[i]!;
    return out;
  }
  const sx = w / outW;
  const sy = h / outH;
  for (let oy = 0; oy < outH; oy++) {
    const fy = Math.min(Math.max((oy + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const wy = fy - y0;
    for (let ox = 0; ox < outW; ox++) {
      const fx = Math.min(Math.max((ox + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const wx = fx - x0;
      for (let ch = 0; ch < c; ch++) {
        const p00 = data[(y0 * w + x0) * c + ch]!;
        const p01 = data[(y0 * w + x1) * c + ch]!;
        const p10 = data[(y1 * w + x0) * c + ch]!;
        const p11 = data[(y1 * w + x1) * c + ch]!;
        const top = p00 + (p01 - p00) * wx;
        const bottom = p10 + (p11 - p10) * wx;
        out[(oy * outW + ox) * c + ch] = top + (bottom - top) * wy;
      }
    }
  }
  return out;
}

/** The preprocessing every model of this project uses: grey or RGB, isize², pixels to [-1, 1]. */
export function defaultPreprocessing(isize: number, nc: 1 | 3): Preprocessing {
  return {
    channelOrder: nc === 1 ? 'gray' : 'rgb',
    layout: 'NCHW',
    resize: { width: isize, height: isize, fit: 'fill', kernel: 'bilinear' },
    mean: Array(nc).fill(0.5),
    std: Array(nc).fill(0.5),
  };
}

/**
 * Full pipeline for one decoded image: channels → resize → (p/255 − mean)/std.
 * Writes HWC (NHWC, for tfjs) or CHW (NCHW, for ONNX) into `out` at `offset`, or a new array.
 */
export function preprocessImage(
  img: RawImage,
  pre: Preprocessing,
  layout: 'HWC' | 'CHW',
  out?: Float32Array,
  offset = 0,
): Float32Array {
  checkRawPixels(img);
  return preprocessCheckedPixels(img, pre, layout, out, offset);
}

/** preprocessImage for pixels that checkRawPixels has already accepted (the score path checks each input once). */
export function preprocessCheckedPixels(
  img: RawImage,
  pre: Preprocessing,
  layout: 'HWC' | 'CHW',
  out?: Float32Array,
  offset = 0,
): Float32Array {
  const nc = pre.channelOrder === 'gray' ? 1 : 3;
  const { width: W, height: H } = pre.resize;
  // Converting channels inside the resize touches only the pixels bilinear sampling reads
  // (4 per output pixel), not the whole decoded image: a 4900×4900 upload costs what a 64×64 one
  // does. Same arithmetic per pixel as toChannels → resizeBilinear, so the same values.
  const dst = out ?? new Float32Array(W * H * nc);
  if (!Number.isInteger(offset) || offset < 0 || dst.length < offset + W * H * nc) {
    throw new RangeError(`output buffer of ${dst.length} values cannot hold ${W * H * nc} at offset ${offset}`);
  }
  const resized = resizeConverted(img, nc, W, H);
  const scale = pre.std.map((s) => 1 / (255 * s));
  const shift = pre.mean.map((m, i) => m / pre.std[i]!);
  for (let p = 0; p < W * H; p++) {
    for (let ch = 0; ch < nc; ch++) {
      const v = resized[p * nc + ch]! * scale[ch]! - shift[ch]!;
      dst[offset + (layout === 'HWC' ? p * nc + ch : ch * W * H + p)] = v;
    }
  }
  return dst;
}

/**
 * resizeBilinear(toChannels(img, nc), outW, outH), computed without converting the whole image:
 * each sampled source pixel is converted on the fly, with toChannels' exact arithmetic.
 */
export function resizeBilinearConverted(img: RawImage, nc: 1 | 3, outW: number, outH: number): Float32Array {
  checkRawPixels(img);
  return resizeConverted(img, nc, outW, outH);
}

function resizeConverted(img: RawImage, nc: 1 | 3, outW: number, outH: number): Float32Array {
  const { width: w, height: h, channels, data } = img;
  if (channels === nc || (w === outW && h === outH)) return resize(convertChannels(img, nc), outW, outH);
  const greySource = channels <= 2;
  /** Channel `ch` of source pixel `i` after conversion to nc channels. */
  const at = (i: number, ch: number): number => {
    const s = i * channels;
    const r = data[s]!;
    if (greySource) return r;
    if (nc === 1) return Math.round(0.299 * r + 0.587 * data[s + 1]! + 0.114 * data[s + 2]!);
    return data[s + ch]!;
  };
  const out = new Float32Array(outW * outH * nc);
  const sx = w / outW;
  const sy = h / outH;
  for (let oy = 0; oy < outH; oy++) {
    const fy = Math.min(Math.max((oy + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const wy = fy - y0;
    for (let ox = 0; ox < outW; ox++) {
      const fx = Math.min(Math.max((ox + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const wx = fx - x0;
      for (let ch = 0; ch < nc; ch++) {
        const p00 = at(y0 * w + x0, ch);
        const p01 = at(y0 * w + x1, ch);
        const p10 = at(y1 * w + x0, ch);
        const p11 = at(y1 * w + x1, ch);
        const top = p00 + (p01 - p00) * wx;
        const bottom = p10 + (p11 - p10) * wx;
        out[(oy * outW + ox) * nc + ch] = top + (bottom - top) * wy;
      }
    }
  }
  return out;
}
