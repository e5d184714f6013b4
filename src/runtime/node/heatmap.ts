// PNG heatmaps for Node: the anomaly map, colour-mapped and upscaled, optionally beside the input
// and the reconstruction. Used by `ganomaly score --heatmap` and available to library users.
import { checkRange, RUNTIME_RANGES } from '../../option-ranges.js';
import type { RawImage } from '../core/pixels.js';
import type { Preprocessing } from '../../types.js';
import type { ScoreResult } from '../core/detector.js';
import { anomalyMapToPixels, reconstructionToPixels, type HeatmapOptions } from '../core/visual.js';
import { loadSharp, readImageFile, type NodeImageInput } from './decode.js';

export interface HeatmapPngOptions extends HeatmapOptions {
  /** Side of each square panel in pixels, 1-4096. Default 256. */
  size?: number;
  /** Input image shown left of the reconstruction and the map (needs result.reconstruction). */
  input?: NodeImageInput;
  preprocessing?: Preprocessing;
}

async function panel(img: RawImage, size: number): Promise<Buffer> {
  const sharp = await loadSharp();
  const channels = img.channels as 1 | 2 | 3 | 4;
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels } })
    .resize(size, size, { fit: 'fill', kernel: 'cubic' })
    .toColourspace('srgb')
    .png()
    .toBuffer();
}

/** Encodes a result's anomaly map (score with outputs: ['anomalyMap', 'reconstruction']) as PNG bytes. */
export async function renderHeatmapPng(result: ScoreResult, opts: HeatmapPngOptions = {}): Promise<Buffer> {
  if (!result.anomalyMap) throw new TypeError("result has no anomalyMap: score with { outputs: ['anomalyMap'] }");
  // Bounded: a panel of 100000² pixels would take minutes and gigabytes before failing.
  const size = checkRange(RUNTIME_RANGES.heatmapSize, opts.size ?? 256, 'size');
  const map = await panel(anomalyMapToPixels(result.anomalyMap, opts), size);
  if (opts.input === undefined) return map;
  if (!result.reconstruction || !opts.preprocessing) {
    throw new TypeError("a side-by-side heatmap needs result.reconstruction (outputs: ['reconstruction']) and the manifest's preprocessing");
  }
  const sharp = await loadSharp();
  // A path is read bounded, as for scoring; sharp gets bytes.
  const encoded = typeof opts.input === 'string' ? await readImageFile(opts.input) : opts.input;
  const input = isRaw(encoded)
    ? await panel(encoded, size)
    : await sharp(encoded instanceof ArrayBuffer ? new Uint8Array(encoded) : encoded)
        .rotate()
        .resize(size, size, { fit: 'fill' })
        .toColourspace('srgb')
        .png()
        .toBuffer();
  const recon = await panel(reconstructionToPixels(result.reconstruction, opts.preprocessing), size);
  return sharp({ create: { width: size * 3, height: size, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite([
      { input, left: 0, top: 0 },
      { input: recon, left: size, top: 0 },
      { input: map, left: size * 2, top: 0 },
    ])
    .png()
    .toBuffer();
}

function isRaw(x: NodeImageInput): x is RawImage {
  return typeof x === 'object' && !(x instanceof Uint8Array) && !(x instanceof ArrayBuffer);
}
