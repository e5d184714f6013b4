// Turns model outputs into displayable 8-bit pixels: the reconstruction back in 0-255, and the
// anomaly map through a colour map. Shared by the CLI's heatmap files and the web demo.
import type { RawImage } from './pixels.js';
import type { Preprocessing } from '../../types.js';
import type { ImageTensor } from './detector.js';

/** Undoes (p/255 − mean)/std and returns interleaved (HWC) 8-bit pixels. */
export function reconstructionToPixels(t: ImageTensor, pre: Preprocessing): RawImage {
  const { channels: c, height: h, width: w, data } = t;
  const out = new Uint8ClampedArray(w * h * c);
  for (let ch = 0; ch < c; ch++) {
    const std = pre.std[ch] ?? pre.std[0]!;
    const mean = pre.mean[ch] ?? pre.mean[0]!;
    for (let p = 0; p < w * h; p++) out[p * c + ch] = Math.round((data[ch * w * h + p]! * std + mean) * 255);
  }
  return { data: out, width: w, height: h, channels: c };
}

// Turbo colour map (Google, Apache-2.0), as 9 control points interpolated linearly: dark blue at 0,
// green in the middle, dark red at 1. Perceptually ordered, readable on dark and light pages.
const TURBO: readonly [number, number, number][] = [
  [48, 18, 59], [65, 69, 171], [57, 162, 252], [27, 229, 181], [116, 254, 93],
  [201, 239, 52], [251, 185, 56], [245, 105, 24], [122, 4, 3],
];

export function turbo(v: number): [number, number, number] {
  const x = (Number.isFinite(v) ? Math.min(Math.max(v, 0), 1) : 1) * (TURBO.length - 1);
  const i = Math.min(Math.floor(x), TURBO.length - 2);
  const f = x - i;
  const a = TURBO[i]!;
  const b = TURBO[i + 1]!;
  return [0, 1, 2].map((k) => Math.round(a[k]! + (b[k]! - a[k]!) * f)) as [number, number, number];
}

export interface HeatmapOptions {
  /** Map value shown as the hottest colour. Default: the map's own maximum (relative heatmap). */
  max?: number;
  /** Alpha channel value, for overlays. Default 255. */
  alpha?: number;
}

/** Colours a 1-channel anomaly map (values ≥ 0) as RGBA pixels. */
export function anomalyMapToPixels(map: ImageTensor, opts: HeatmapOptions = {}): RawImage {
  const { width: w, height: h, data } = map;
  let max = opts.max;
  if (max === undefined) {
    max = 0;
    for (let i = 0; i < w * h; i++) if (data[i]! > max) max = data[i]!;
  }
  const scale = max > 0 ? 1 / max : 0;
  const alpha = opts.alpha ?? 255;
  const out = new Uint8ClampedArray(w * h * 4);
  for (let p = 0; p < w * h; p++) {
    const [r, g, b] = turbo(data[p]! * scale);
    out.set([r, g, b, alpha], p * 4);
  }
  return { data: out, width: w, height: h, channels: 4 };
}
