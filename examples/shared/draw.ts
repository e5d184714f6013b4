// Canvas helpers shared by the demo pages (examples/web, examples/learn).
import type { RawPixels } from '@ganomaly-edge/runtime';

/** 8-bit pixels (1, 3 or 4 channels) as an offscreen canvas of their own size. */
export function pixelsCanvas(img: RawPixels): OffscreenCanvas {
  const rgba = new Uint8ClampedArray(img.width * img.height * 4);
  for (let p = 0; p < img.width * img.height; p++) {
    const s = p * img.channels;
    const grey = img.channels < 3;
    rgba[p * 4] = img.data[s]!;
    rgba[p * 4 + 1] = img.data[grey ? s : s + 1]!;
    rgba[p * 4 + 2] = img.data[grey ? s : s + 2]!;
    rgba[p * 4 + 3] = img.channels === 4 ? img.data[s + 3]! : 255;
  }
  const small = new OffscreenCanvas(img.width, img.height);
  small.getContext('2d')!.putImageData(new ImageData(rgba, img.width, img.height), 0, 0);
  return small;
}

/** Draws `source` over the whole canvas; `smooth` false keeps the model's pixels visible as blocks. */
export function drawScaled(canvas: HTMLCanvasElement, source: CanvasImageSource, smooth = true): void {
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = smooth;
  if (smooth) ctx.imageSmoothingQuality = 'high';
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
}
